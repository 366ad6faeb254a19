"""Helpers for noxfiles: sessions install exactly what the project's lock says.

    import nox
    from scaffolder.nox import install_locked, venv_backend

    nox.options.default_venv_backend = venv_backend()

    @nox.session
    def tests(session):
        install_locked(session, groups=["dev"])
        session.run("pytest")

The lock is verified first (a hand-edited pin or hash is refused), installs are hash-checked,
and uv-backed sessions get the same package sources pip would use (uv ignores pip.conf).
uv-backed sessions install the PEP 751 lock (pylock.toml, or pylock.dev.toml with the dev group)
when the project has one that matches requirements.lock; pip-backed sessions install the
requirements locks, whose markers pip evaluates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scaffolder.errors import LockError, UsageError
from scaffolder.project import Project

CONDA_BACKENDS = "micromamba|mamba|conda"


def _project(root: Path | str | None) -> Project:
    return Project.find(Path(root) if root else Path.cwd())


def venv_backend(root: Path | str | None = None) -> str:
    """The nox backend matching the project: conda engines for conda projects, uv or virtualenv otherwise.

    The ``a|b`` form lets nox fall back to the next one that is installed.
    """
    settings = _project(root).recorded
    if settings.get("env") == "conda":
        return CONDA_BACKENDS
    if settings.get("installer") == "pip":
        return "virtualenv"
    return "uv|virtualenv"


def group_locks() -> dict[str, str]:
    """The groups ``install_locked`` takes, each with its lock: scaffolder locks only the dev group."""
    # lazily: a noxfile imports this module, so 'nox -l' loads no lock code until a session runs (start-up speed)
    from scaffolder.locks.locking import DEV_LOCK

    return {"dev": DEV_LOCK}


def _check_groups(groups: Sequence[str]) -> None:
    known = group_locks()
    unknown = [group for group in groups if group not in known]
    if unknown:
        raise UsageError(f"no lock for group(s) {', '.join(map(repr, unknown))}: scaffolder locks only "
                         f"{', '.join(map(repr, known))}",
                         "requirements-dev.lock holds every [dependency-groups] group: pass groups=['dev'], "
                         "or groups=[] for the main set alone")


def lock_paths(project: Project, groups: Sequence[str]) -> list[Path]:
    """requirements.lock, then the lock of each group (requirements-dev.lock), all of which must exist."""
    # lazily: a noxfile imports this module, so 'nox -l' loads no lock code until a session runs (start-up speed)
    from scaffolder.locks.locking import MAIN_LOCK

    _check_groups(groups)
    paths = [project.root / MAIN_LOCK] + [project.root / group_locks()[group] for group in groups]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise LockError(f"{', '.join(missing)} missing in {project.root}", "run 'scaffolder lock' first")
    return paths


def locked_requirements(project: Project, groups: Sequence[str]) -> str:
    """One verified, hash-pinned requirements text for the main set plus ``groups``."""
    # lazily: a noxfile imports this module, so 'nox -l' loads no lock code until a session runs (start-up speed)
    from scaffolder.locks import lockfile

    return lockfile.merge_for_install([(p.name, lockfile.read_verified(p)) for p in lock_paths(project, groups)])


def pylock_path(project: Project, groups: Sequence[str]) -> Path | None:
    """The verified pylock.toml (no groups) or pylock.dev.toml (the dev group) that matches the
    requirements locks; None when the project has none for these groups."""
    # lazily: a noxfile imports this module, so 'nox -l' loads no lock code until a session runs (start-up speed)
    from scaffolder.locks import lockfile, pylock
    from scaffolder.locks.locking import PYLOCK, PYLOCK_DEV

    name = PYLOCK if not groups else PYLOCK_DEV if list(groups) == ["dev"] else None
    if name is None or not (project.root / name).is_file():
        return None
    tool = pylock.read_verified(project.root / name)
    lock = lock_paths(project, groups)[-1]
    if tool.get("inputs") != lockfile.read(lock).meta.get("inputs"):
        raise LockError(f"{name} does not match {lock.name} (one was written without the other)",
                        "run 'scaffolder lock'")
    return project.root / name


def index_args(session_backend: str | None) -> list[str]:
    # lazily: a noxfile imports this module, so 'nox -l' loads no settings code until a session runs (start-up speed)
    from scaffolder import config
    from scaffolder.indexes import uv_index_args

    sources = config.load().sources  # once per session install: a noxfile has no command to pass them
    if session_backend == "uv":
        return uv_index_args(sources)
    return list(sources.pip_args)  # pip reads its own configuration


def install_locked(session: Any, groups: Sequence[str] = ("dev",), root: Path | str | None = None,
                   install_project: bool = True) -> None:
    """Install the lock (hash-checked, no resolution) into ``session``, then the project itself without deps.

    ``groups``: "dev" (requirements-dev.lock) or none; a group scaffolder does not lock is a usage error."""
    groups = [groups] if isinstance(groups, str) else list(groups)  # groups="dev" is one group, not three
    _check_groups(groups)
    project = _project(root)
    if project.recorded.get("env") == "conda":
        _install_conda_locked(session, project, groups)
    else:
        text = locked_requirements(project, groups)  # verifies the requirements locks in any case
        backend = getattr(session, "venv_backend", None)
        pylock_file = pylock_path(project, groups) if backend == "uv" else None
        if pylock_file is not None:
            session.install("-r", str(pylock_file))  # every file has its sha256; uv checks them
        else:
            requirements = Path(session.create_tmp()) / "scaffolder-locked.txt"
            requirements.write_text(text, encoding="utf-8")
            session.install("--require-hashes", "--no-deps", "-r", str(requirements), *index_args(backend))
    if install_project:
        session.install("--no-deps", "-e", str(project.root))


def _install_conda_locked(session: Any, project: Project, groups: Sequence[str]) -> None:
    """conda packages from conda-lock.yml as an @EXPLICIT file, then its pip section, hash-checked."""
    # lazily: the conda lock code loads only when a conda project's session installs (start-up speed)
    from scaffolder.envs.conda.executable import explicit_lines
    from scaffolder.locks import condalock
    from scaffolder.locks.pipsection import requirement_lines

    lock_file = project.root / "conda-lock.yml"
    if not lock_file.is_file():
        raise LockError(f"conda-lock.yml missing in {project.root}", "run 'scaffolder lock' first")
    lock = condalock.read_lock(lock_file)
    platform = condalock.current_platform()
    condalock.require_platform(lock, platform, lock_file)
    tmp = Path(session.create_tmp())
    explicit = tmp / "scaffolder-conda-explicit.txt"
    explicit.write_text("\n".join(explicit_lines(condalock.locked_packages(lock, platform, "conda"), platform)) + "\n")
    session.conda_install("--file", str(explicit))
    pip = condalock.locked_packages(lock, platform, "pip")
    if pip:
        pip_file = tmp / "scaffolder-conda-pip.txt"
        pip_file.write_text("\n".join(requirement_lines(pip)) + "\n")
        session.install("--require-hashes", "--no-deps", "-r", str(pip_file))
