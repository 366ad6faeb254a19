"""Roll back everything a failed multi-step command created.

Each step registers how to undo what it did; if anything fails, or the user presses
Ctrl-C, or the process gets SIGTERM, the undo actions run newest first.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from scaffolder.fsutil import atomic_write_bytes, remove_tree


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
        """Call before writing, replacing or deleting ``path``: the one backup-and-restore there is.

        A file keeps its place and its old content comes back on rollback (its mode kept). A
        directory (an environment, say) is moved out of the way, so that the caller builds a new one
        in its place: on rollback whatever is there then is removed and the old one renamed back;
        on commit the old one is deleted. The backup sits beside ``path`` (same file system, so the
        renames are atomic and a conda prefix's hard-coded paths stay valid). A path that did not
        exist is removed again on rollback."""
        path = Path(path)
        if path.is_dir() or (path.is_symlink() and not path.is_file()):  # a link to a dir moves as a link
            self._move_aside(path)
        elif path.is_file():
            old = path.read_bytes()
            self.on_rollback(f"restore {path}", lambda: atomic_write_bytes(path, old))
        else:
            self.created_path(path)

    def _move_aside(self, path: Path) -> None:
        backup = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        backup.rmdir()
        os.replace(path, backup)

        def restore() -> None:
            remove_tree(path)
            os.replace(backup, path)

        self.on_rollback(f"restore {path}", restore)
        self.on_commit(lambda: remove_tree(backup))

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
