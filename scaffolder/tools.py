"""Running the external tools scaffolder drives (uv, pip, pip-compile, virtualenv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from scaffolder.errors import ScaffolderError
from scaffolder.indexes import IndexConfig, unreachable_index
from scaffolder.tool_errors import INDEX_HINT, NOT_FOUND_PREFIXES, summarize


@lru_cache(maxsize=1)
def find_uv() -> str | None:
    """uv from the ``uv`` package scaffolder depends on, else from PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def run(cmd: Sequence[str | os.PathLike], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
        what: str, error: type[ScaffolderError], sources: IndexConfig | None = None,
        on_line: Callable[[str], None] | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` quietly; on failure raise ``error`` with one line distilled from the tool's output.

    ``sources`` are the package indexes the tool used: when it reports packages as missing, an index
    it could not reach is the likelier cause (pip says "no versions" for both). ``on_line`` gets each
    line of output as it comes (stdout and stderr together), for a live progress display.
    """
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("NO_COLOR", "1")
    try:
        if on_line is None:
            proc = subprocess.run([str(c) for c in cmd], env=child_env, cwd=cwd, capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL)
        else:
            proc = _streamed([str(c) for c in cmd], child_env, cwd, on_line)
    except OSError as exc:
        raise error(f"{what}: cannot run {cmd[0]}: {exc.strerror}", "check that it is installed") from None
    if proc.returncode != 0:
        message, hint = summarize(proc.stdout + "\n" + proc.stderr)
        if sources is not None and message.startswith(NOT_FOUND_PREFIXES):
            down = unreachable_index(sources)
            if down:
                message, hint = f"cannot reach {down}", INDEX_HINT
        raise error(f"{what}: {message}", hint)
    return proc


def _streamed(cmd: list[str], env: dict[str, str], cwd: Path | None,
              on_line: Callable[[str], None]) -> subprocess.CompletedProcess:
    out: list[str] = []
    with subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          stdin=subprocess.DEVNULL, errors="replace") as child:
        for line in child.stdout:
            out.append(line)
            on_line(line.rstrip("\r\n").rsplit("\r", 1)[-1])
    return subprocess.CompletedProcess(cmd, child.returncode, "".join(out), "")


def python_module_cmd(module: str) -> list[str]:
    """Run a module of scaffolder's own environment (pip-tools, virtualenv)."""
    return [sys.executable, "-m", module]
