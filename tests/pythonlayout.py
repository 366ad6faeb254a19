"""Control which Pythons are "installed" while every one of them is real (``pytest_plugins = ["pythonlayout"]``).

``pythons(versions)`` links real interpreters of this machine into a temporary PATH directory, a
pyenv root and a uv python directory (round robin, newest first), and points PATH, PYENV_ROOT and
UV_PYTHON_INSTALL_DIR (or XDG_DATA_HOME) there, so nothing else is found. On a machine with only
the running interpreter, the running one is all there is, and the tests still run.

Test modules import its helpers before pytest loads it as a plugin; it has no asserts to rewrite:
PYTEST_DONT_REWRITE
"""

import subprocess
import sys
from pathlib import Path

import pytest

from scaffolder.pythons import current_version, find_interpreters

LOCATIONS = ("uv", "pyenv", "path")


def version_key(version):
    return tuple(int(part) for part in version.split("."))


@pytest.fixture(scope="session")
def real_pythons():
    """version -> a working interpreter of this machine other than the running one (may be empty)."""
    found = {}
    for version, path in find_interpreters().items():
        if version == current_version():
            continue
        out = subprocess.run([str(path), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
        if out.returncode == 0 and out.stdout.strip() == version:
            found[version] = path
    return found


@pytest.fixture
def pythons(tmp_path, monkeypatch, real_pythons):
    """Call with versions (default: every real one) to make exactly those installed; returns version -> path."""

    def install(versions=None, *, uv_default_dir=False):
        versions = sorted(real_pythons if versions is None else versions, key=version_key, reverse=True)
        root = tmp_path / "pythons"
        bin_dir, pyenv = root / "bin", root / "pyenv"
        uv = root / "xdg" / "uv" / "python" if uv_default_dir else root / "uv"
        for directory in (bin_dir, pyenv / "versions", uv):
            directory.mkdir(parents=True)
        placed = {current_version(): Path(sys.executable)}
        for index, version in enumerate(versions):
            where = LOCATIONS[index % len(LOCATIONS)]
            if where == "path":
                link = bin_dir / f"python{version}"
            elif where == "pyenv":
                link = pyenv / "versions" / f"{version}.0" / "bin" / f"python{version}"
            else:
                link = uv / f"cpython-{version}.0-linux-x86_64-gnu" / "bin" / f"python{version}"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(real_pythons[version])
            placed[version] = link
        monkeypatch.setenv("PATH", str(bin_dir))
        monkeypatch.setenv("PYENV_ROOT", str(pyenv))
        if uv_default_dir:  # uv's own default: $XDG_DATA_HOME/uv/python
            monkeypatch.delenv("UV_PYTHON_INSTALL_DIR", raising=False)
            monkeypatch.setenv("XDG_DATA_HOME", str(root / "xdg"))
        else:
            monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(uv))
        return placed

    return install


def newest(versions, at_least=None):
    """The newest of ``versions`` that is at least ``at_least``."""
    fitting = [v for v in versions if at_least is None or version_key(v) >= version_key(at_least)]
    return max(fitting, key=version_key)


def next_minor(version=None):
    major, minor = (version or current_version()).split(".")
    return f"{major}.{int(minor) + 1}"


def runs(path):
    """major.minor that the interpreter at ``path`` really is."""
    out = subprocess.run([str(path), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()
