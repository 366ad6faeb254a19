"""File-system primitives that never leave a half-written file behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory and a rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _set_mode(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask. Linux shows it in /proc; elsewhere it is read by setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _set_mode(tmp: str, path: Path) -> None:
    """mkstemp makes 0600 files: give ``tmp`` the mode of the file it replaces, else the mode a plain
    ``open(path, "w")`` would give (0666 less the umask), so teammates and containers can read it."""
    if path.exists():
        shutil.copymode(path, tmp)
    else:
        os.chmod(tmp, 0o666 & ~current_umask())


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` over ``dst`` so that ``dst`` is either old or new, never partial."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def temporary_dir_beside(path: Path, prefix: str = ".scaffolder-"):
    """A temporary directory on the same file system as ``path``, so a rename can finish the job."""
    parent = Path(path).parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_tree(path: Path) -> None:
    """Delete ``path`` so that it is gone at once: rename it aside first, then delete the renamed tree."""
    path = Path(path)
    if path.is_symlink() or path.is_file():
        path.unlink()
        return
    if not path.exists():
        return
    doomed = Path(tempfile.mkdtemp(prefix=f".{path.name}.removing-", dir=path.parent))
    doomed.rmdir()
    os.replace(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def is_within(path: Path, root: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
        return True
    except ValueError:
        return False
