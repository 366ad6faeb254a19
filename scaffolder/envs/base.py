"""The two interfaces of ``envs/``: ``EnvManager`` (a project's environment of one kind, venv or
conda: what ``env``, ``lock``, ``check`` and ``update`` call) and ``EnvBackend`` (the tool that makes
and fills one environment: uv, virtualenv + pip, a conda executable, rattler); and what every kind
does the same way: where the env directory is, linking the project's source, removing an env."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from scaffolder.console import Reporter
from scaffolder.errors import UsageError
from scaffolder.fsutil import is_within, remove_tree
from scaffolder.project import Project
from scaffolder.pythons import site_packages

if TYPE_CHECKING:  # pragma: no cover
    from scaffolder.transaction import Transaction


@runtime_checkable
class EnvManager(Protocol):
    """A project's environment of one kind; ``envs.manager_for(kind)`` returns one.

    ``envs.venv.manager.VenvManager`` and ``envs.conda.manager.CondaManager`` implement it. ``settings`` is
    the command's resolved ``config.Settings``. Results are plain dicts, printed as is by ``--json``."""

    kind: str  # "venv" or "conda"

    def create(self, project: Project, settings: Any, *, recreate: bool = False,
               reporter: Reporter | None = None) -> dict[str, Any]:
        """Make the env and install the lock into it (locking first if there is none)."""

    def sync(self, project: Project, settings: Any, *, reporter: Reporter | None = None) -> dict[str, Any]:
        """Make the env match the lock exactly."""

    def info(self, project: Project, settings: Any) -> dict[str, Any]:
        """Where the env is, its Python, its packages and the lock's state."""

    def remove(self, project: Project, settings: Any, *, reporter: Reporter | None = None,
               before_remove: Callable[[Project, Path, Reporter | None], object] | None = None) -> dict[str, Any]:
        """Delete the env (``before_remove`` runs first: the kernels' clean-up); the lock stays."""

    def lock(self, project: Project, settings: Any, *, upgrade: bool = False, upgrade_packages: Sequence[str] = (),
             reporter: Reporter | None = None, txn: Transaction | None = None,
             extras: Sequence[str] | None = None) -> Any:
        """Write the project's lock files; returns what was locked (``locks.locking.LockResult``)."""

    def lock_states(self, project: Project, settings: Any) -> dict[str, tuple[str, str]]:
        """Each lock file: (state, detail), state one of fresh, stale, missing, corrupted."""

    def check(self, project: Project, settings: Any) -> list[str]:
        """Drift between the env, the lock and the inputs, one line each; empty when in step."""


def env_dir_at(root: Path, rel: str | Path) -> Path:
    """The environment directory ``rel`` (``env_path`` in [tool.scaffolder]) of the project at ``root``:
    the one place a venv's or a conda prefix's path is made, so that none can be the project itself
    (``env remove`` would delete it)."""
    root = Path(root)
    path = (root / rel).absolute()
    if path == root.absolute() or root.absolute().is_relative_to(path):
        raise UsageError(f"env_path {str(rel)!r} would make the project itself the environment",
                         "set env_path in [tool.scaffolder] to a subdirectory such as .venv")
    return path


class EnvBackend(ABC):
    name: str = ""
    kind: str = ""  # "venv" or "conda"

    @classmethod
    @abstractmethod
    def available(cls) -> bool:
        """Whether this backend can run on this machine (its executable or library is present)."""

    @abstractmethod
    def create(self, path: Path, python: str | None = None) -> None:
        """Create an empty environment at ``path``."""

    @abstractmethod
    def sync(self, path: Path, lock_file: Path) -> None:
        """Make the environment match ``lock_file`` exactly, hash-checked, removing anything extra.

        A venv backend also takes ``on_line``: where to stream the installer's output lines (None: capture)."""

    @abstractmethod
    def installed(self, path: Path) -> dict[str, str]:
        """Installed packages: normalised name -> version."""

    @abstractmethod
    def python(self, path: Path) -> Path:
        """The environment's Python interpreter."""


SOURCE_PTH = "_scaffolder_project_src.pth"
# What runs just before an env is deleted, with (project, env path, reporter): ``env remove`` passes
# the clean-up of the kernels that ran the env (envs/ never imports kernels/, which sit above it).
BeforeRemove = Callable[[Project, Path, Reporter | None], object]


def remove_env_dir(project: Project, path: Path, reporter: Reporter | None,
                   before_remove: BeforeRemove | None = None) -> dict[str, Any]:
    """Remove an environment directory the manager has checked, after ``before_remove`` (kernels)."""
    if before_remove is not None:
        before_remove(project, path, reporter)
    remove_tree(path)
    return {"path": str(path), "removed": True}


def link_project_source(env: Path, root: Path) -> None:
    """Put the project's src/ on the env's path (a .pth file), so its package imports without an
    install; an env without a Python (a conda env that lists none) gets nothing."""
    site = site_packages(env)
    src = Path(root) / "src"
    if site is not None and src.is_dir() and is_within(src, root):
        (site / SOURCE_PTH).write_text(str(src.resolve()) + "\n", encoding="utf-8")
