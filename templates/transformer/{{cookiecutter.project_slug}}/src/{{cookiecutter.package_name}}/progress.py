"""Progress bars for the long jobs that are not training: evaluation, data preparation, tokenization.

A tqdm bar on a terminal, on the first process only (torchrun's RANK 0); nothing in logs, CI or
other ranks, where the iterable is returned as is. The bar is cleared when the job ends, so training
keeps its one line per log step. Model downloads already show transformers' own tqdm bars.
TQDM_DISABLE=1 turns bars off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def shown() -> bool:
    return sys.stderr.isatty() and os.environ.get("RANK", "0") == "0" and not os.environ.get("TQDM_DISABLE")


def bar(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    """``iterable`` with a live bar on a terminal; ``iterable`` itself elsewhere."""
    if not shown():
        return iterable
    from tqdm import tqdm

    try:
        width = os.get_terminal_size(sys.stderr.fileno()).columns
    except OSError:
        width = 0
    # A terminal that reports no size (some container ttys) would hide the bar (tqdm hides bars below the
    # last row, and there are 0 rows): assume 80x24 there.
    size = {"dynamic_ncols": True} if width else {"ncols": 80, "nrows": 24}
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False, **size)
