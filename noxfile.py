"""Sessions for developing scaffolder: `nox -s tests lint`, plus `tests_fast`, `docs` and `bench`."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint"]
# A Python that is not installed is skipped with a note, on CI too (where nox would fail by default),
# and never downloaded: `tests_fast` runs on the interpreters this machine has.
nox.options.error_on_missing_interpreters = False
nox.options.download_python = "never"

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]  # requires-python = ">=3.10"
FAST = "not slow and not torch"  # the markers are described in pyproject.toml


def _pyenv_version() -> str | None:
    """A PYENV_VERSION that activates every installed pyenv 3.10-3.13 (the active version first).

    nox finds a pyenv Python through its shim only while pyenv has that version active, so a
    machine with all four installed would run one. Naming them in PYENV_VERSION is what
    `pyenv shell 3.11.7 3.10.13 ...` does. None without pyenv, or when PYENV_VERSION is set already.
    """
    if os.environ.get("PYENV_VERSION") or not shutil.which("pyenv"):
        return None

    def pyenv(*args: str) -> list[str]:
        out = subprocess.run(["pyenv", *args], capture_output=True, text=True).stdout
        return [v for v in re.split(r"[\s:]+", out) if v]

    wanted = {tuple(p.split(".")) for p in PYTHONS}
    installed = [v for v in pyenv("versions", "--bare") if tuple(v.split(".")[:2]) in wanted]
    versions = [*pyenv("version-name"), *installed]
    return ":".join(dict.fromkeys(versions)) if installed else None


_ADDED_PYENV_VERSION = _pyenv_version()
if _ADDED_PYENV_VERSION:
    os.environ["PYENV_VERSION"] = _ADDED_PYENV_VERSION


def _plain_env(session: nox.Session) -> None:
    """The session's commands see the user's environment, without the PYENV_VERSION added above."""
    if _ADDED_PYENV_VERSION:
        session.env["PYENV_VERSION"] = None


@nox.session(venv_backend="virtualenv")
def tests(session: nox.Session) -> None:
    """The whole suite (real envs, locks, kernels and tiny training runs).

    pip installs it, as the README does: pip honours pip.conf, which may point at a local CPU wheel
    of torch; uv ignores pip.conf and would fetch torch==2.13.0 from PyPI, a multi-GB CUDA build.
    """
    _plain_env(session)
    session.install("-e", ".[conda,test]")
    session.run("pytest", "-q", *session.posargs)


@nox.session(python=PYTHONS)
def tests_fast(session: nox.Session) -> None:
    """The tests that need no torch (`-m "not slow and not torch"`), on every supported Python present.

    Installs the `test-fast` extra, which has no torch: torch==2.13.0 exists as a CPU wheel for one
    Python here, and any other torch would be a multi-GB CUDA download.
    """
    _plain_env(session)
    session.install("-e", ".[conda,test-fast]")
    session.run("pytest", "-q", "-m", FAST, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "scaffolder", "tests", "benchmarks", "scripts", "noxfile.py")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site in strict mode (broken links and missing pages fail)."""
    session.install("mkdocs>=1.5")
    session.run("mkdocs", "build", "--strict")


@nox.session(venv_backend="virtualenv")
def bench(session: nox.Session) -> None:
    """Side-by-side benchmarks against what a user would type instead; prints ratios (pip: see `tests`)."""
    session.install("-e", ".[conda,test]", "cookiecutter")
    for script in sorted(Path("benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
