"""Roll back everything a failed multi-step command created.

Each step registers how to undo what it did; if anything fails, or the user presses
Ctrl-C, or the process gets SIGTERM, the undo actions run newest first.
"""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from scaffolder.fsutil import atomic_write_bytes


class Transaction:
    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._on_commit: list[Callable[[], None]] = []
        self.rollback_errors: list[str] = []
        self._old_sigterm = None

    def on_rollback(self, description: str, action: Callable[[], None]) -> None:
        self._undo.append((description, action))

    def on_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` only once everything succeeded (e.g. drop backups)."""
        self._on_commit.append(action)

    def created_path(self, path: Path) -> None:
        """Register a file or directory this transaction created, to delete on rollback."""
        path = Path(path)

        def remove() -> None:
            if path.is_symlink() or path.is_file():
                path.unlink(missing_ok=True)
            elif path.is_dir():
                shutil.rmtree(path)

        self.on_rollback(f"remove {path}", remove)

    def guard(self, path: Path) -> None:
        """Call before writing or deleting the file at ``path``: on rollback it gets its old content
        back (its mode kept), or goes again if it did not exist. The one backup-and-restore of a file."""
        path = Path(path)
        if not path.is_file():
            self.created_path(path)
            return
        old = path.read_bytes()
        self.on_rollback(f"restore {path}", lambda: atomic_write_bytes(path, old))

    def rollback(self) -> None:
        while self._undo:
            description, action = self._undo.pop()
            try:
                action()
            except Exception as exc:  # keep undoing the rest
                self.rollback_errors.append(f"{description}: {exc}")

    def commit(self) -> None:
        self._undo.clear()
        while self._on_commit:
            self._on_commit.pop(0)()

    def __enter__(self) -> Transaction:
        # SIGTERM becomes SystemExit so that __exit__ runs the rollback.
        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_exit)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None:
                self.rollback()
            else:
                self.commit()
        finally:
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)


def _raise_exit(signum, frame):  # noqa: ANN001
    raise SystemExit(128 + signum)
