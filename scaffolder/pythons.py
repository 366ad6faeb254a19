"""Find installed Python interpreters by version ("3.12"), without running any of them, and choose
the one a project's environment gets (``choose``); read what an environment has installed
(``site_packages``, ``installed_distributions``: one reader for venvs and conda prefixes).

Looks at the running interpreter, PATH, pyenv's versions and uv-managed Pythons. pyenv shims are
skipped: a shim for a version that is not selected fails when run.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scaffolder.errors import EnvError, UsageError

_NAME = re.compile(r"^python(3)\.(\d+)$")
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")
# The minors a conda channel can install, oldest first: what a conda env may get without --python.
KNOWN_VERSIONS = tuple(f"3.{minor}" for minor in range(9, 15))


class NoMatchingPython(EnvError):
    """No interpreter (or, for conda, no known Python version) satisfies the project's requires-python."""


@dataclass(frozen=True)
class PythonChoice:
    """The Python an env gets: major.minor, the interpreter (None when conda installs it) and why."""

    version: str
    interpreter: Path | None
    reason: str

    def describe(self) -> str:
        where = f" ({self.interpreter})" if self.interpreter else ""
        return f"Python {self.version}{where}: {self.reason}"


def current_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def uv_python_dir() -> Path:
    """Where uv keeps the Pythons it installs (UV_PYTHON_INSTALL_DIR, else uv's data directory)."""
    explicit = os.environ.get("UV_PYTHON_INSTALL_DIR")
    if explicit:
        return Path(explicit)
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "uv" / "python"


def _search_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p and "shims" not in Path(p).parts]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    for root in (pyenv_root / "versions", uv_python_dir()):
        if root.is_dir():
            dirs += sorted(p / "bin" for p in root.iterdir() if (p / "bin").is_dir())
    return dirs


def find_interpreters() -> dict[str, Path]:
    """version -> interpreter; the running one first, then PATH, pyenv and uv's Pythons in that order."""
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
    listed = ", ".join(sorted(found, key=_key)) or "none"
    raise EnvError(
        f"Python {wanted} is not installed (found: {listed})",
        f"install it (pyenv install {wanted} or uv python install {wanted}) or pick one of those with --python",
    )


def satisfies(requires: str | None, version: str) -> bool:
    """Whether some release of major.minor ``version`` meets ``requires`` (no or an invalid specifier: yes)."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not requires:
        return True
    try:
        allowed = SpecifierSet(requires)
    except InvalidSpecifier:
        return True
    return any(allowed.contains(f"{version}.{patch}", prereleases=True) for patch in range(100))


def choose(requires: str | None, *, explicit: str | None = None, explicit_from: str = "--python",
           preferred: str | None = None, installed: bool = True) -> PythonChoice:
    """The Python for an env of a project that declares ``requires`` (its requires-python).

    ``explicit`` (set by ``explicit_from``) wins and must satisfy ``requires``. Otherwise ``preferred``
    (the template's python_version) when it is installed and satisfies ``requires``, else the newest
    installed interpreter that does; with no ``requires``, the running interpreter. ``installed=False``
    is for conda, which installs the version from its channel: the newest of KNOWN_VERSIONS that fits.
    """
    shown = f"requires-python {requires}"
    if explicit:
        explicit = str(explicit)
        if os.sep not in explicit and not satisfies(requires, explicit):
            raise UsageError(f"the project requires Python {requires}, not {explicit}", "choose another --python")
        if not installed:
            return PythonChoice(explicit, None, f"set by {explicit_from}")
        version, interpreter = find_python(explicit)
        if not satisfies(requires, version):
            raise UsageError(f"the project requires Python {requires}, not {version} ({interpreter})",
                             "choose another --python")
        return PythonChoice(version, interpreter, f"set by {explicit_from}")

    candidates = find_interpreters() if installed else dict.fromkeys(KNOWN_VERSIONS)
    aside = ""
    match = _VERSION.match(str(preferred or "").strip())
    if match:
        answer = f"{match[1]}.{match[2]}"
        if installed and answer not in candidates:
            aside = f" (the template's python_version {answer} is not installed)"
        elif not satisfies(requires, answer):
            aside = f" (the template's python_version {answer} is outside it)"
        else:
            fits = f", within {shown}" if requires else ""
            return PythonChoice(answer, candidates.get(answer), f"the template's python_version{fits}")
    if not requires:
        running = "the running interpreter" if installed else "the version scaffolder runs on"
        return PythonChoice(current_version(), Path(sys.executable) if installed else None,
                            f"{running}; the project sets no requires-python{aside}")
    matching = sorted((v for v in candidates if satisfies(requires, v)), key=_key)
    if matching:
        where = "installed match" if installed else "known Python"
        return PythonChoice(matching[-1], candidates[matching[-1]], f"newest {where} for {shown}{aside}")
    if not installed:
        raise NoMatchingPython(f"no known Python ({', '.join(KNOWN_VERSIONS)}) satisfies requires-python {requires}",
                               "pass the version for the env with --python 3.X")
    listed = ", ".join(f"{v} ({candidates[v]})" for v in sorted(candidates, key=_key))
    suggest = next((v for v in KNOWN_VERSIONS if satisfies(requires, v)), "3.X")
    raise NoMatchingPython(f"no installed Python satisfies requires-python {requires} (found: {listed})",
                           f"install one (pyenv install {suggest} or uv python install {suggest}) "
                           "or pass an interpreter with --python")


def _version_of_path(path: Path) -> str:
    import subprocess

    try:
        out = subprocess.run([str(path), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        raise EnvError(f"{path} is not a working Python interpreter", "pass a version such as --python 3.11") from None
    return out.stdout.strip()


# ------------------------------------------------------------ an environment's packages


def site_packages(prefix: Path) -> Path | None:
    """The site-packages of the environment at ``prefix``, a venv or a conda prefix: Lib/site-packages
    on Windows, else lib/python3.X/site-packages (the newest minor, if an upgrade left two)."""
    prefix = Path(prefix)
    if (prefix / "Lib" / "site-packages").is_dir():
        return prefix / "Lib" / "site-packages"

    def minor(path: Path) -> int:
        found = re.search(r"python3\.(\d+)", path.parent.name)
        return int(found.group(1)) if found else -1

    found = sorted(prefix.glob("lib/python3*/site-packages"), key=minor)
    return found[-1] if found else None


def installed_distributions(site: Path | None, skip: Callable[[Path], bool] | None = None) -> dict[str, str]:
    """What is installed in ``site``: normalised name -> version, read from ``*.dist-info/METADATA``
    (milliseconds, and no interpreter to run). ``skip(dist_info_dir)`` leaves some out (a conda
    package's own)."""
    from email.parser import HeaderParser

    from packaging.utils import canonicalize_name

    if site is None:
        return {}
    found: dict[str, str] = {}
    parser = HeaderParser()
    for meta in Path(site).glob("*.dist-info/METADATA"):
        if skip is not None and skip(meta.parent):
            continue
        try:
            headers = parser.parsestr(meta.read_text(encoding="utf-8", errors="replace"), headersonly=True)
        except OSError:
            continue
        if headers.get("Name") and headers.get("Version"):
            found[canonicalize_name(headers["Name"])] = headers["Version"].strip()
    return found
