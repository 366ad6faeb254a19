"""Find installed Python interpreters by version ("3.12"), without running any of them.

Looks at the running interpreter, PATH, pyenv's versions and uv-managed Pythons. pyenv shims are
skipped: a shim for a version that is not selected fails when run.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .errors import EnvError, UsageError

_NAME = re.compile(r"^python(3)\.(\d+)$")
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


def current_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def _search_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p and "shims" not in Path(p).parts]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    uv_root = Path(os.environ.get("UV_PYTHON_INSTALL_DIR") or Path.home() / ".local/share/uv/python")
    for root in (pyenv_root / "versions", uv_root):
        if root.is_dir():
            dirs += sorted(p / "bin" for p in root.iterdir() if (p / "bin").is_dir())
    return dirs


def find_interpreters() -> dict[str, Path]:
    """version -> interpreter; the running one first, then PATH order."""
    found: dict[str, Path] = {current_version(): Path(sys.executable)}
    for directory in _search_dirs():
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            match = _NAME.match(name)
            path = directory / name
            if match and os.access(path, os.X_OK):
                found.setdefault(f"{match[1]}.{match[2]}", path)
    return found


def find_python(version: str | None) -> tuple[str, Path]:
    """(major.minor, interpreter) for ``version`` (e.g. "3.12", or a path); the running one when None."""
    if not version:
        return current_version(), Path(sys.executable)
    if os.sep in version:
        return _version_of_path(Path(version)), Path(version)
    match = _VERSION.match(version.strip())
    if not match:
        raise UsageError(f"--python {version!r} is not a version", "write it as 3.X, for example --python 3.11")
    wanted = f"{match[1]}.{match[2]}"
    found = find_interpreters()
    if wanted in found:
        return wanted, found[wanted]
    listed = ", ".join(sorted(found, key=lambda v: tuple(map(int, v.split("."))))) or "none"
    raise EnvError(
        f"Python {wanted} is not installed (found: {listed})",
        f"install it (pyenv install {wanted} or uv python install {wanted}) or pick one of those with --python",
    )


def _version_of_path(path: Path) -> str:
    import subprocess

    try:
        out = subprocess.run([str(path), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        raise EnvError(f"{path} is not a working Python interpreter", "pass a version such as --python 3.11") from None
    return out.stdout.strip()
