"""`scaffolder new` (render, env, lock, install) vs the manual path a user types today.

Manual path, on the same template and pins: cookiecutter, python -m venv, pip-compile
--generate-hashes (main, then dev constrained by main), pip install -r both.
scaffolder: `scaffolder new -t transformer --no-kernel` (the manual path registers no kernel).
Both with this machine's package configuration and warm caches, run alternately; prints medians
and the ratio (target <= 0.05x, issue 15).

    python benchmarks/bench_new.py [--runs N] [--no-warmup]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _timing import compare, time_command

REPO = Path(__file__).resolve().parent.parent
PIN = "torch_requirement=torch==2.13.0"  # a looser torch spec would pick PyPI's multi-GB CUDA build
DEV_GROUP = ["pytest>=7", "ruff>=0.4", "nox>=2024.3", "ipykernel>=6.25"]  # the template's dev group


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first run of each")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="bench-new-") as tmp:
        work = Path(tmp)

        def ours(i: int) -> float:
            out = work / f"ours{i}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [sys.executable, "-m", "scaffolder", "new", "bench-app", "-t", "transformer", "--no-input",
                   "--set", PIN, "--torch", "cpu", "--no-kernel", "-o", str(out)]
            took = time_command(cmd, env=env)
            shutil.rmtree(out, ignore_errors=True)
            return took

        def theirs(i: int) -> float:
            out = work / f"theirs{i}"
            shutil.rmtree(out, ignore_errors=True)
            project = out / "bench-app"
            took = time_command([sys.executable, "-m", "cookiecutter", str(REPO / "templates" / "transformer"),
                                 "--no-input", "-o", str(out), "project_name=bench-app", PIN])
            took += time_command([sys.executable, "-m", "venv", ".venv"], cwd=project)
            (project / "dev.in").write_text("-c requirements.txt\n" + "\n".join(DEV_GROUP) + "\n")
            compile_cmd = [sys.executable, "-m", "piptools", "compile", "--generate-hashes", "--allow-unsafe",
                           "--strip-extras", "--quiet"]
            took += time_command([*compile_cmd, "-o", "requirements.txt", "pyproject.toml"],
                                 cwd=project)
            took += time_command([*compile_cmd, "-o", "requirements-dev.txt", "dev.in"], cwd=project)
            took += time_command([".venv/bin/python", "-m", "pip", "install", "-q", "-r", "requirements.txt",
                                  "-r", "requirements-dev.txt"], cwd=project)
            shutil.rmtree(out, ignore_errors=True)
            return took

        if not args.no_warmup:
            ours(-1)
            theirs(-1)
        compare("new transformer (render + env + lock + install)", ours, theirs, runs=args.runs, target=0.05,
                theirs_name="cookiecutter + venv + pip-compile + pip install")


if __name__ == "__main__":
    main()
