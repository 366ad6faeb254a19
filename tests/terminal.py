"""Run a command in a real pseudo-terminal and answer its prompts, as a person at a keyboard would."""

from __future__ import annotations

import os
import re
import select
import subprocess
import time


def converse(args: list[str], answers: list[tuple[str, str]], env: dict[str, str], cwd, timeout: float = 30):
    """Run ``args`` on a pty; whenever the output since the last answer matches the next pattern, type the
    answer and Enter. Returns (exit code, everything the terminal showed, the answers never asked for)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True)
    os.close(slave)
    shown, since_answer, pending = b"", b"", list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
                since_answer += chunk
            if pending and re.search(pending[0][0], since_answer.decode(errors="replace")):
                os.write(master, pending.pop(0)[1].encode() + b"\r")
                since_answer = b""
            elif not ready and proc.poll() is not None:
                break
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return proc.returncode, shown.decode(errors="replace").replace("\r\n", "\n"), pending
