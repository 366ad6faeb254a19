"""What every conda engine shares: the prefix layout, drift against conda-lock.yml, and an exact,
all-or-nothing sync.

Sync rebuilds the prefix at its own path while the old one waits beside it under a backup name
(``Transaction.guard``): success drops the backup; any failure, Ctrl-C or SIGTERM removes the
half-built prefix and renames the backup back. Conda prefixes are not relocatable (paths are
patched in at link time), so the new prefix is built where it will live, never in a temp dir.
An environment that already matches the lock is left alone.
"""

from __future__ import annotations

import json
import os
import sys
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scaffolder.envs.base import EnvBackend
from scaffolder.errors import EnvError
from scaffolder.locks.condalock import build_string, current_platform, locked_packages, read_lock, require_platform
from scaffolder.locks.pipsection import conda_files, install_pip, pip_installed
from scaffolder.pythons import site_packages
from scaffolder.transaction import Transaction

if TYPE_CHECKING:  # pragma: no cover
    from conda_lock.lockfile.v2prelim.models import LockedDependency, Lockfile


@dataclass(frozen=True)
class InstalledRecord:
    name: str
    version: str
    build: str
    sha256: str | None


def installed_conda(prefix: Path) -> dict[str, InstalledRecord]:
    """The conda packages in ``prefix``, read from conda-meta/*.json (every engine writes these)."""
    found: dict[str, InstalledRecord] = {}
    for path in Path(prefix, "conda-meta").glob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found[data["name"]] = InstalledRecord(data["name"], str(data["version"]), data["build"], data.get("sha256"))
        except (OSError, ValueError, KeyError):
            continue
    return found


@contextmanager
def rebuilt_prefix(prefix: Path) -> Iterator[Path]:
    """Yield ``prefix`` (absent) to be built from scratch; restore the old one if building fails."""
    with Transaction() as txn:
        txn.guard(prefix)
        yield Path(prefix)


def default_envs_dirs() -> list[Path]:
    """Where named environments live when no conda executable says otherwise (conda's own order)."""
    dirs = [Path(p) for p in os.environ.get("CONDA_ENVS_PATH", "").split(os.pathsep) if p]
    root = os.environ.get("MAMBA_ROOT_PREFIX")
    if root:
        dirs.append(Path(root) / "envs")
    dirs.append(Path.home() / ".conda" / "envs")
    return dirs


class CondaEngine(EnvBackend):
    kind = "conda"

    def create(self, path: Path, python: str | None = None) -> None:
        """An empty conda prefix (conda, mamba and micromamba recognise one by conda-meta/history).

        ``python`` is ignored: in a conda environment Python is a package listed in environment.yml."""
        meta = Path(path) / "conda-meta"
        meta.mkdir(parents=True, exist_ok=True)
        (meta / "history").touch()

    def python(self, path: Path) -> Path:
        return Path(path) / "python.exe" if sys.platform == "win32" else Path(path) / "bin" / "python"

    def installed(self, path: Path) -> dict[str, str]:
        conda = {name: rec.version for name, rec in installed_conda(path).items()}
        return {**conda, **pip_installed(path, conda_files(path))}

    def site_packages(self, path: Path) -> Path | None:
        """The env's site-packages, or None when it holds no Python."""
        return site_packages(path)

    def named_prefix(self, name: str) -> Path:
        return self.envs_dirs()[0] / name

    def envs_dirs(self) -> list[Path]:
        return default_envs_dirs()

    def drift(self, path: Path, lockfile: Lockfile, platform: str | None = None) -> list[str]:
        """How the environment at ``path`` differs from the lock; empty when it matches exactly."""
        platform = platform or current_platform()
        path = Path(path)
        if not (path / "conda-meta").is_dir():
            return [f"no conda environment at {path}"]
        problems: list[str] = []
        have = installed_conda(path)
        for dep in locked_packages(lockfile, platform, "conda"):
            rec = have.pop(dep.name, None)
            want = f"{dep.version}-{build_string(dep)}"
            if rec is None:
                problems.append(f"{dep.name} {want} is locked but not installed")
            elif (rec.version, rec.build) != (dep.version, build_string(dep)):
                problems.append(f"{dep.name}: locked {want}, installed {rec.version}-{rec.build}")
            elif rec.sha256 and dep.hash.sha256 and rec.sha256 != dep.hash.sha256:
                problems.append(f"{dep.name} {want}: installed archive differs from the lock (sha256)")
        problems += [f"{n} {r.version}-{r.build} is installed but not locked" for n, r in sorted(have.items())]
        problems += _pip_drift(pip_installed(path, conda_files(path)), locked_packages(lockfile, platform, "pip"))
        return problems

    def sync(self, path: Path, lock_file: Path) -> list[str]:
        """Make the environment match the lock for this platform exactly; return what was out of date."""
        lockfile = read_lock(lock_file)
        platform = current_platform()
        require_platform(lockfile, platform, Path(lock_file))
        path = Path(path)
        if path.exists() and not (path / "conda-meta").is_dir() and any(path.iterdir()):
            # Sync replaces the prefix wholesale; never do that to a directory that is not an env.
            raise EnvError(f"{path} exists and is not a conda environment", "move it away or choose another env_path")
        problems = self.drift(path, lockfile, platform)
        if not problems:
            return []
        conda = locked_packages(lockfile, platform, "conda")
        pip = locked_packages(lockfile, platform, "pip")
        self.check_archives(conda)
        with rebuilt_prefix(path) as prefix:
            self.link(prefix, conda, platform)
            self.create(prefix)  # an empty lock still leaves a recognisable prefix
            install_pip(self.python(prefix), pip)
        return problems

    def check_archives(self, packages: Sequence[LockedDependency]) -> None:
        """Refuse, before touching the prefix, archives known not to match the lock."""

    @abstractmethod
    def link(self, prefix: Path, packages: Sequence[LockedDependency], platform: str) -> None:
        """Create ``prefix`` holding exactly ``packages`` (conda packages of one platform)."""

    @abstractmethod
    def lock(
        self,
        env_file: Path,
        lock_file: Path,
        vp_file: Path | None = None,
        *,
        index_args: Sequence[str] = (),
        upgrade: bool | Sequence[str] = False,
    ) -> Lockfile:
        """Solve ``env_file`` for all its platforms and write ``lock_file`` atomically."""


def _pip_drift(have: dict[str, str], locked: Sequence[LockedDependency]) -> list[str]:
    from packaging.utils import canonicalize_name

    problems = []
    have = dict(have)
    for dep in locked:
        version = have.pop(canonicalize_name(dep.name), None)
        if version is None:
            problems.append(f"pip package {dep.name} {dep.version} is locked but not installed")
        elif version != dep.version:
            problems.append(f"pip package {dep.name}: locked {dep.version}, installed {version}")
    problems += [f"pip package {name} {version} is installed but not locked" for name, version in sorted(have.items())]
    return problems
