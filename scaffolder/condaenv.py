"""A project's conda environment, one call per command: write its inputs, lock, sync, check, describe.

The files live in the project root: ``environment.yml`` (the user's to edit), ``virtual-packages.yml``
(which platforms have CUDA, from the torch variant) and ``conda-lock.yml``. The environment is the
prefix ``.conda/`` in the project unless ``[tool.scaffolder] env_name`` names a shared env
(``~/.conda/envs/NAME`` or wherever the conda executable keeps named envs).
The commands (``new --env conda``, ``env``, ``lock``, ``check``) call these; the engine comes from
``scaffolder.envs.conda.select_engine``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .condalock import (
    DEFAULT_CHANNELS,
    DEFAULT_PLATFORMS,
    ENVIRONMENT_FILE,
    KNOWN_PLATFORMS,
    LOCK_FILE,
    VIRTUAL_PACKAGES_FILE,
    current_platform,
    environment_for_project,
    read_lock,
    render_virtual_packages,
    stale_platforms,
)
from .errors import LockError
from .fsutil import atomic_copy, atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from conda_lock.lockfile.v2prelim.models import Lockfile

    from .envs.condabase import CondaEngine
    from .transaction import Transaction

ENV_DIR = ".conda"


@dataclass(frozen=True)
class CondaFiles:
    root: Path
    env_file: Path
    lock_file: Path
    vp_file: Path

    @classmethod
    def of(cls, root: Path, settings: Mapping[str, Any] | None = None) -> CondaFiles:
        root = Path(root)
        lock = (settings or {}).get("lock") or LOCK_FILE
        return cls(root, root / ENVIRONMENT_FILE, root / lock, root / VIRTUAL_PACKAGES_FILE)

    @property
    def virtual_packages(self) -> Path | None:
        """None when the project has no virtual-packages.yml: conda-lock's defaults then apply."""
        return self.vp_file if self.vp_file.exists() else None


def prefix_for(root: Path, settings: Mapping[str, Any], engine: CondaEngine) -> Path:
    name = settings.get("env_name")
    if name:
        return engine.named_prefix(str(name))
    return Path(root) / (settings.get("env_path") or ENV_DIR)


def lock_platforms(platforms: Iterable[str] | None) -> list[str]:
    """The platforms to lock: those asked for (default linux-64, osx-arm64, win-64) plus this machine's."""
    chosen = list(platforms or DEFAULT_PLATFORMS)
    here = current_platform()
    if here in KNOWN_PLATFORMS and here not in chosen:
        chosen.append(here)
    return chosen


def _guard(path: Path, txn: Transaction | None) -> None:
    """Let ``txn`` undo a write to ``path``: delete it if new, restore it if it existed."""
    if txn is None:
        return
    if not path.exists():
        txn.created_path(path)
        return
    backup_dir = Path(tempfile.mkdtemp(prefix=".scaffolder-backup-", dir=path.parent))
    backup = backup_dir / path.name
    shutil.copy2(path, backup)
    txn.on_rollback(f"drop backup of {path}", lambda: shutil.rmtree(backup_dir, ignore_errors=True))
    txn.on_rollback(f"restore {path}", lambda: atomic_copy(backup, path))


def write_inputs(
    files: CondaFiles,
    *,
    name: str,
    requirements: Iterable[str],
    python: str | None = None,
    torch_variant: str | None = None,
    channels: Sequence[str] | None = None,
    platforms: Iterable[str] | None = None,
    overwrite: bool = False,
    txn: Transaction | None = None,
) -> list[Path]:
    """Write environment.yml and virtual-packages.yml; an existing file is the user's and kept unless ``overwrite``."""
    chosen = lock_platforms(platforms)
    texts = {
        files.env_file: environment_for_project(
            name, requirements, python=python, torch_variant=torch_variant,
            channels=list(channels or DEFAULT_CHANNELS), platforms=chosen,
        ),
        files.vp_file: render_virtual_packages(torch_variant, chosen),
    }  # fmt: skip
    written = []
    for path, text in texts.items():
        if path.exists() and not overwrite:
            continue
        _guard(path, txn)
        atomic_write_text(path, text)
        written.append(path)
    return written


def lock(
    files: CondaFiles,
    engine: CondaEngine,
    *,
    index_args: Sequence[str] = (),
    upgrade: bool | Sequence[str] = False,
    txn: Transaction | None = None,
) -> Lockfile:
    """Solve environment.yml for its platforms and replace conda-lock.yml atomically (kept intact on failure)."""
    _guard(files.lock_file, txn)
    return engine.lock(files.env_file, files.lock_file, files.virtual_packages, index_args=index_args,
                       upgrade=upgrade)


def sync(files: CondaFiles, engine: CondaEngine, prefix: Path, *, txn: Transaction | None = None) -> list[str]:
    """Make the env at ``prefix`` match the lock; return what was out of date (empty: nothing to do)."""
    if txn is not None and not Path(prefix).exists():
        txn.created_path(Path(prefix))
    return engine.sync(prefix, files.lock_file)


def check(files: CondaFiles, engine: CondaEngine, prefix: Path) -> list[str]:
    """Everything that makes the project's conda env not reproducible right now; empty when all is well."""
    lockfile = read_lock(files.lock_file)
    problems = []
    stale = stale_platforms(lockfile, files.env_file, files.virtual_packages)
    if stale:
        problems.append(f"{files.lock_file.name} is stale for {', '.join(stale)}: {files.env_file.name} or "
                        f"{files.vp_file.name} changed since it was locked (run 'scaffolder lock')")
    here = current_platform()
    if here not in lockfile.metadata.platforms:
        problems.append(f"{files.lock_file.name} has no solution for {here} (add it to platforms and relock)")
    else:
        problems += [f"{prefix}: {p}" for p in engine.drift(prefix, lockfile, here)]
    return problems


def describe(files: CondaFiles, engine: CondaEngine, prefix: Path) -> dict[str, Any]:
    """What ``env info`` shows for a conda project."""
    info: dict[str, Any] = {
        "backend": "conda",
        "engine": engine.name,
        "executable": str(getattr(engine, "exe", "")) or None,
        "prefix": str(prefix),
        "exists": (Path(prefix) / "conda-meta").is_dir(),
        "python": str(engine.python(prefix)),
        "environment_file": str(files.env_file),
        "lock_file": str(files.lock_file),
        "platform": current_platform(),
    }
    try:
        lockfile = read_lock(files.lock_file)
        info["locked_platforms"] = list(lockfile.metadata.platforms)
    except LockError as exc:
        info["lock_error"] = exc.format_message()
    if info["exists"]:
        info["packages"] = len(engine.installed(prefix))
    return info
