"""The embedded conda engine against raw py-rattler, side by side, on the tests' local channel.

    python benchmarks/bench_conda.py [--runs N]

- lock: `condaenv.lock` (conda-lock spec parsing, content hashes, 3 platform solves, conda-lock
  writer, read-back check) vs the 3 bare `rattler.solve` calls it makes;
- sync: `engine.sync` into an empty path (lock read, integrity + archive hash checks, link) vs a
  bare `rattler.install` of the same records;
- no-op sync and `check` (stale inputs + drift) are printed as plain medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(Path(__file__).parent), str(REPO), str(REPO / "tests")]
import conda_channel as cc  # noqa: E402
from _timing import compare  # noqa: E402

from scaffolder.envs.conda import manager as condaenv  # noqa: E402
from scaffolder.envs.conda.rattler import RattlerBackend, repodata_record  # noqa: E402
from scaffolder.locks import condalock  # noqa: E402

PLATFORMS = ["linux-64", "osx-arm64", "win-64"]


def main() -> int:
    import rattler

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-conda-"))
    try:
        os.environ["RATTLER_CACHE_DIR"] = str(work / "cache")
        channel = cc.standard_channel(work / "channel")
        files = condaenv.CondaFiles.of(work / "project")
        files.root.mkdir()
        condaenv.write_inputs(files, name="bench", requirements=["torch"], torch_variant="cu126",
                              channels=[channel.as_uri()], platforms=PLATFORMS)
        engine = RattlerBackend()
        specs = {p: condalock.match_specs(condalock.lock_specification(files.env_file), p) for p in PLATFORMS}
        virtual = {p: condalock.virtual_packages_for(files.vp_file, p) for p in PLATFORMS}

        def ours_lock(_: int) -> float:
            start = time.perf_counter()
            condaenv.lock(files, engine)
            return time.perf_counter() - start

        def raw_solve(_: int) -> float:
            start = time.perf_counter()
            for p in PLATFORMS:
                engine._solve([channel.as_uri()], specs[p], p, virtual[p], [])
            return time.perf_counter() - start

        compare("lock 3 platforms", ours_lock, raw_solve, runs=args.runs, theirs_name="bare rattler.solve")
        here = condalock.current_platform()
        records = [repodata_record(d) for d in condalock.locked_packages(condalock.read_lock(files.lock_file), here,
                                                                        "conda")]

        def ours_sync(i: int) -> float:
            start = time.perf_counter()
            engine.sync(work / f"ours{i}", files.lock_file)
            return time.perf_counter() - start

        def raw_install(i: int) -> float:
            start = time.perf_counter()
            asyncio.run(rattler.install(records, target_prefix=work / f"raw{i}", show_progress=False))
            return time.perf_counter() - start

        compare("sync a new env", ours_sync, raw_install, runs=args.runs, theirs_name="bare rattler.install")
        for label, fn in [("no-op sync", lambda: engine.sync(work / "ours0", files.lock_file)),
                          ("check", lambda: condaenv.check(files, engine, work / "ours0"))]:
            samples = []
            for _ in range(args.runs):
                start = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - start)
            print(f"{label}: scaffolder {statistics.median(samples):.3f}s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
