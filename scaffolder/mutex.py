"""One scaffolder run at a time per project, so two runs cannot interleave writes to its env or locks.

The lock file lives in the user cache directory (keyed by the project's real path), not in the
project, so it never shows up in git status.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

from scaffolder.console import Reporter
from scaffolder.errors import Busy

DEFAULT_TIMEOUT_S = 600.0


def mutex_path(root: Path) -> Path:
    from platformdirs import user_cache_dir

    key = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:20]
    return Path(user_cache_dir("scaffolder")) / "locks" / f"{key}.lock"


@contextmanager
def project_mutex(root: Path, reporter: Reporter | None = None):
    """Hold the project's lock; wait for another run up to SCAFFOLDER_LOCK_TIMEOUT seconds (default 600)."""
    from filelock import FileLock, Timeout

    path = mutex_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        timeout = float(os.environ.get("SCAFFOLDER_LOCK_TIMEOUT", DEFAULT_TIMEOUT_S))
    except ValueError:
        timeout = DEFAULT_TIMEOUT_S
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if reporter is not None:
            reporter.info(f"waiting for another scaffolder run on {root} ...")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise Busy(f"another scaffolder run is working on {root}",
                       "wait for it to finish (or raise SCAFFOLDER_LOCK_TIMEOUT)") from None
    try:
        yield
    finally:
        lock.release()
