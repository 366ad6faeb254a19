"""Shared helpers for the side-by-side benchmarks: run commands alternately, report medians and ratios."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def time_command(argv: Sequence[str], *, cwd: Path | None = None, env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(list(argv), cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def compare(
    label: str,
    ours: Callable[[int], float],
    theirs: Callable[[int], float],
    *,
    runs: int = 5,
    target: float | None = None,
    ours_name: str = "scaffolder",
    theirs_name: str = "baseline",
) -> float:
    """Alternate the two so that machine noise hits both; print medians and ours/theirs."""
    a, b = [], []
    for i in range(runs):
        a.append(ours(i))
        b.append(theirs(i))
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = ma / mb
    verdict = "" if target is None else (" OK" if ratio <= target else " MISSED") + f" (target <= {target}x)"
    print(f"{label}: {ours_name} {ma:.3f}s vs {theirs_name} {mb:.3f}s -> ratio {ratio:.2f}x{verdict}", flush=True)
    return ratio


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
