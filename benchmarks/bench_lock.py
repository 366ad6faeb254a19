"""`scaffolder lock` vs `pip-compile --generate-hashes` on the transformer template's inputs.

Both resolve the same inputs from scratch (no previous lock) with this machine's package
configuration and warm caches: the main set (dependencies; no extras, as scaffolder by default)
and the dev group constrained by it. Run alternately; prints medians and the ratio (target <= 0.3x).

    python benchmarks/bench_lock.py [--runs N] [--no-warmup]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import compare, time_command

REPO = Path(__file__).resolve().parent.parent
PIN = "torch_requirement=torch==2.13.0"  # a looser torch spec would pick PyPI's multi-GB CUDA build


def scaffolder(*args: str) -> list[str]:
    return [sys.executable, "-m", "scaffolder", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def make_project(work: Path) -> Path:
    subprocess.run(scaffolder("new", "bench-lock", "-t", "transformer", "--no-input", "--env", "none",
                              "--set", PIN, "-o", str(work)), check=True, env=env(), stdout=subprocess.DEVNULL)
    project = work / "bench-lock"
    # The manual path's dev input: the dev group, constrained by the main lock.
    from scaffolder.project import Project

    groups = Project.load(project).pyproject["dependency-groups"]["dev"]
    (project / "dev.in").write_text("-c requirements.txt\n" + "\n".join(groups) + "\n")
    return project


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first run of each")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as tmp:
        project = make_project(Path(tmp))
        outputs = ["requirements.lock", "requirements-dev.lock", "requirements.txt", "requirements-dev.txt"]

        def clean() -> None:
            for name in outputs:
                (project / name).unlink(missing_ok=True)

        def ours(_: int) -> float:
            clean()
            return time_command(scaffolder("lock", "--torch", "cpu", "--installer", "uv"), cwd=project, env=env())

        def theirs(_: int) -> float:
            clean()
            compile_cmd = [sys.executable, "-m", "piptools", "compile", "--generate-hashes", "--allow-unsafe",
                           "--strip-extras", "--quiet"]
            main_time = time_command([*compile_cmd, "-o", "requirements.txt", "pyproject.toml"],
                                     cwd=project)
            return main_time + time_command([*compile_cmd, "-o", "requirements-dev.txt", "dev.in"], cwd=project)

        if not args.no_warmup:
            ours(-1)  # warm the caches of both before timing
            theirs(-1)
        compare("lock, transformer inputs (main + dev, hashed)", ours, theirs, runs=args.runs, target=0.3,
                theirs_name="pip-compile --generate-hashes")


if __name__ == "__main__":
    main()
