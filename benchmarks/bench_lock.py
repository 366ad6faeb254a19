"""`scaffolder lock` (universal) vs `uv pip compile --universal --generate-hashes` vs the pip-tools
route (`pip-compile --generate-hashes` once per platform), on the transformer template's inputs.

All three resolve the same inputs from scratch (no previous lock) with this machine's package
configuration and warm caches: the main set (dependencies; no extras, as scaffolder by default) and
the dev group constrained by it. pip-compile cannot resolve for another platform, so "once per
platform" is what a team does today: one run on each of the platforms' machines; here it is timed
as that many runs on this machine. Prints medians and both ratios (goals: <= 1.3x uv, <= 0.1x the
pip-compile route).

    python benchmarks/bench_lock.py [--runs N] [--no-warmup] [--platform NAME ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import time_command

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
    from scaffolder.project import Project

    groups = Project.load(project).pyproject["dependency-groups"]["dev"]
    (project / "dev.in").write_text("-c requirements.txt\n" + "\n".join(groups) + "\n")
    return project


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first run of each")
    parser.add_argument("--platform", action="append", default=None,
                        help="platforms to lock (default: scaffolder's four)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from scaffolder.indexes import load_index_config, uv_index_args
    from scaffolder.locks.platforms import DEFAULT_PLATFORMS
    from scaffolder.tools import find_uv

    platforms = args.platform or list(DEFAULT_PLATFORMS)
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as tmp:
        project = make_project(Path(tmp))
        outputs = ["requirements.lock", "requirements-dev.lock", "requirements.txt", "requirements-dev.txt"]

        def clean() -> None:
            for name in outputs:
                (project / name).unlink(missing_ok=True)

        from scaffolder.locks import lockfile

        locked: list[str] = []

        def ours() -> float:
            clean()
            chosen = ["--platform", ",".join(platforms)] if args.platform else []  # default: best effort
            took = time_command(scaffolder("lock", "--torch", "cpu", "--installer", "uv", *chosen), cwd=project,
                                env=env())
            locked[:] = lockfile.read(project / "requirements.lock").platforms
            return took

        def uv_universal() -> float:
            clean()
            cmd = [find_uv(), "pip", "compile", "--universal", "--generate-hashes", "--quiet",
                   "--python-version", f"{sys.version_info[0]}.{sys.version_info[1]}",
                   *uv_index_args(load_index_config())]
            main_time = time_command([*cmd, "-o", "requirements.txt", "pyproject.toml"], cwd=project)
            return main_time + time_command([*cmd, "-o", "requirements-dev.txt", "dev.in"], cwd=project)

        def pip_compile_per_platform() -> float:
            total = 0.0
            compile_cmd = [sys.executable, "-m", "piptools", "compile", "--generate-hashes", "--allow-unsafe",
                           "--strip-extras", "--quiet"]
            for _ in platforms:
                clean()
                total += time_command([*compile_cmd, "-o", "requirements.txt", "pyproject.toml"], cwd=project)
                total += time_command([*compile_cmd, "-o", "requirements-dev.txt", "dev.in"], cwd=project)
            return total

        routes = {"scaffolder lock (universal)": ours, "uv pip compile --universal --generate-hashes": uv_universal,
                  f"pip-compile --generate-hashes x{len(platforms)} platforms": pip_compile_per_platform}
        if not args.no_warmup:
            for route in routes.values():
                route()
        times: dict[str, list[float]] = {name: [] for name in routes}
        for _ in range(args.runs):
            for name, route in routes.items():
                times[name].append(route())
                print(f"  run: {name} {times[name][-1]:.2f} s", file=sys.stderr, flush=True)
        medians = {name: statistics.median(values) for name, values in times.items()}
        print(f"scaffolder locked for: {', '.join(locked)} (the configured indexes' wheels decide, unless --platform)")
        print(f"lock, transformer inputs (main + dev, hashed), platforms: {', '.join(platforms)}; "
              f"median of {args.runs}")
        for name, value in medians.items():
            print(f"  {name:<50} {value:7.2f} s")
        ours_t, uv_t, pip_t = medians.values()
        print(f"  ratio vs uv universal:        {ours_t / uv_t:.2f}x (goal <= 1.3x)")
        print(f"  ratio vs pip-compile route:   {ours_t / pip_t:.2f}x (goal <= 0.1x)")


if __name__ == "__main__":
    main()
