"""What compiling bytecode at install costs `scaffolder new`, and what skipping it costs later.

Side by side, alternately, on the transformer template (torch CPU pinned, warm caches, no kernel):
`scaffolder new` (the default: no compile) vs `scaffolder new --compile-bytecode`. Then, in each env,
`import torch, transformers` three times: with Python allowed to write .pyc (the first import pays
for the cache) and with PYTHONDONTWRITEBYTECODE=1 (set on some machines: no cache is ever written).

    python benchmarks/bench_bytecode.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _timing import time_command

REPO = Path(__file__).resolve().parent.parent
PIN = "torch_requirement=torch==2.13.0"
IMPORT = "import torch, transformers"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "SCAFFOLDER_COMPILE_BYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    with tempfile.TemporaryDirectory(prefix="bench-bytecode-") as tmp:
        work = Path(tmp)

        def new(name: str, *flags: str) -> tuple[float, Path]:
            out = work / name
            shutil.rmtree(out, ignore_errors=True)
            cmd = [sys.executable, "-m", "scaffolder", "new", "bench-app", "-t", "transformer", "--no-input",
                   "--set", PIN, "--torch", "cpu", "--no-kernel", "--no-git", "-o", str(out), *flags]
            return time_command(cmd, env=env), out / "bench-app"

        new("warmup")  # fills uv's cache
        times: dict[str, list[float]] = {"default": [], "--compile-bytecode": []}
        for i in range(args.runs):
            for flags in times:
                took, _ = new(f"{flags}-{i}", *([flags] if flags != "default" else []))
                times[flags].append(took)
        for flags, values in times.items():
            print(f"new {flags}: median {statistics.median(values):.2f}s of {[round(v, 2) for v in values]}",
                  flush=True)
        for flags in times:
            python = work / f"{flags}-0" / "bench-app" / ".venv" / "bin" / "python"
            for dont_write in ("1", ""):  # "1" first: it must not find .pyc left by the others
                child = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
                if dont_write:
                    child["PYTHONDONTWRITEBYTECODE"] = dont_write
                runs = [time_command([str(python), "-c", IMPORT], env=child) for _ in range(3)]
                print(f"env made by new {flags}, PYTHONDONTWRITEBYTECODE={dont_write or 'unset'}: "
                      f"{IMPORT!r} took {', '.join(f'{r:.2f}s' for r in runs)} (1st, 2nd, 3rd)", flush=True)


if __name__ == "__main__":
    main()
