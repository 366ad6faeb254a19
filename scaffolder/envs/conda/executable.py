"""Conda environments through an executable (micromamba, mamba or conda), and the choice of engine.

Which engine runs (``select_engine``):
1. an explicit engine (``rattler``, ``micromamba``, ``mamba`` or ``conda``) or executable path;
2. else ``CONDA_EXE`` when it names an existing file (set by ``conda activate``);
3. else the first of the search order (default micromamba, mamba, conda) found on PATH;
4. else the embedded py-rattler engine, when py-rattler is installed.
Settings: ``SCAFFOLDER_CONDA_ENGINE``, ``SCAFFOLDER_CONDA_EXE``, ``SCAFFOLDER_CONDA_SEARCH``
(comma-separated), or the same as arguments.

With an executable, installing is ``<exe> create --prefix P --file explicit.txt`` from an @EXPLICIT
file rendered from conda-lock.yml (``url#md5`` lines, so the executable checks every archive),
and locking is ``conda-lock lock`` with this executable, the project's virtual-packages.yml and
the same PyPI-to-conda name map the embedded engine uses. The command lines are built by pure
functions so that tests can check them exactly where no executable exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scaffolder.envs.conda.engine import CondaEngine, default_envs_dirs
from scaffolder.errors import EnvError, LockError, UsageError
from scaffolder.fsutil import temporary_dir_beside
from scaffolder.locks.condalock import MAPPING_FILE, read_lock, source_path, write_lock

if TYPE_CHECKING:  # pragma: no cover
    from conda_lock.lockfile.v2prelim.models import LockedDependency, Lockfile

EXECUTABLES = ("micromamba", "mamba", "conda")
ENGINES = ("auto", "rattler", *EXECUTABLES)


def flavour(exe: str | Path) -> str:
    """micromamba, mamba or conda, from the executable's file name (conda.bat, mamba.exe ...)."""
    stem = Path(exe).name.lower()
    for suffix in (".exe", ".bat", ".cmd"):
        stem = stem.removesuffix(suffix)
    for name in EXECUTABLES:
        if stem.startswith(name):
            return name
    return "conda"


def search_order(environ: Mapping[str, str] = os.environ) -> list[str]:
    raw = environ.get("SCAFFOLDER_CONDA_SEARCH", "")
    order = [x.strip() for x in raw.split(",") if x.strip()] or list(EXECUTABLES)
    bad = [x for x in order if x not in EXECUTABLES]
    if bad:
        raise UsageError(f"SCAFFOLDER_CONDA_SEARCH names unknown executables: {', '.join(bad)}",
                         f"use a comma-separated list of {', '.join(EXECUTABLES)}")
    return order


def find_executable(
    override: str | None = None,
    order: Sequence[str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Path | None:
    """The conda executable to use, or None. An override that cannot be found is an error."""
    override = override or environ.get("SCAFFOLDER_CONDA_EXE") or None
    if override:
        found = override if Path(override).is_file() else shutil.which(override)
        if not found:
            raise UsageError(f"conda executable {override!r} not found",
                             "install it, fix the path, or unset SCAFFOLDER_CONDA_EXE")
        return Path(found)
    order = list(order) if order is not None else search_order(environ)
    conda_exe = environ.get("CONDA_EXE")
    if conda_exe and Path(conda_exe).is_file() and flavour(conda_exe) in order:
        return Path(conda_exe)
    for name in order:
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return Path(found)
    return None


def select_engine(
    engine: str | None = None, exe: str | None = None, search: Sequence[str] | None = None
) -> CondaEngine:
    """The conda engine for this machine (see the module docstring for the order).

    The arguments are the ``conda.engine``, ``conda.exe`` and ``conda.search`` settings; when None,
    the same SCAFFOLDER_CONDA_* environment variables are read here."""
    engine = engine or os.environ.get("SCAFFOLDER_CONDA_ENGINE") or "auto"
    if engine not in ENGINES:
        raise UsageError(f"unknown conda engine {engine!r}", f"choose one of: {', '.join(ENGINES)}")
    if engine == "rattler":
        return _rattler()
    if engine != "auto":
        found = find_executable(exe, order=[engine])
        if found is None:
            raise EnvError(f"{engine} not found on PATH", f"install {engine}, or use the embedded engine: rattler")
        return CondaExecutableBackend(found)
    if search is not None:
        search_order({"SCAFFOLDER_CONDA_SEARCH": ",".join(search)})  # validates the names
    found = find_executable(exe, order=search)
    return CondaExecutableBackend(found) if found else _rattler()


def _rattler() -> CondaEngine:
    # lazily: the embedded engine (py-rattler, the conda extra) loads only without a conda executable (start-up speed)
    from scaffolder.envs.conda.rattler import RattlerBackend

    if not RattlerBackend.available():
        raise EnvError("no conda engine: no micromamba, mamba or conda on PATH and py-rattler is not installed",
                       "install micromamba, or: pip install 'scaffolder[conda]'")
    return RattlerBackend()


# ------------------------------------------------------------ command lines (pure)


def explicit_lines(packages: Sequence[LockedDependency], platform: str) -> list[str]:
    """An @EXPLICIT spec, as conda-lock renders one: ``url#md5`` per package, in lock order."""
    return [f"# platform: {platform}", "@EXPLICIT", *(f"{p.url}#{p.hash.md5}" for p in packages)]


def create_command(exe: Path, prefix: Path, explicit_file: Path) -> list[str]:
    """Create ``prefix`` from an @EXPLICIT file (no solving; every archive is checked against its md5)."""
    if flavour(exe) == "micromamba":
        return [str(exe), "create", "--yes", "--prefix", str(prefix), "--file", str(explicit_file)]
    return [str(exe), "create", "--yes", "--quiet", "--prefix", str(prefix), "--file", str(explicit_file)]


def info_command(exe: Path) -> list[str]:
    return [str(exe), "info", "--json"]


def lock_command(
    exe: Path,
    env_file: Path,
    lock_file: Path,
    vp_file: Path | None,
    update: Sequence[str] = (),
    check_input_hash: bool = True,
) -> list[str]:
    """``conda-lock lock`` for all platforms of ``env_file``, solved by ``exe``."""
    kind = flavour(exe)
    cmd = [
        sys.executable, "-m", "conda_lock", "lock",
        "--file", str(env_file), "--lockfile", str(lock_file), "--kind", "lock",
        "--conda", str(exe),
        "--micromamba" if kind == "micromamba" else "--no-micromamba",
        "--mamba" if kind == "mamba" else "--no-mamba",
        "--pypi_to_conda_lookup_file", str(MAPPING_FILE),
    ]  # fmt: skip
    if vp_file is not None and Path(vp_file).exists():
        cmd += ["--virtual-package-spec", str(vp_file)]
    if check_input_hash:
        cmd.append("--check-input-hash")
    for package in update:
        cmd += ["--update", package]
    return cmd


# ------------------------------------------------------------ the engine


class CondaExecutableBackend(CondaEngine):
    def __init__(self, exe: str | Path | None = None) -> None:
        found = Path(exe) if exe else find_executable()
        if found is None:
            raise EnvError("no micromamba, mamba or conda found on PATH", "install one, or use the rattler engine")
        self.exe = found
        self.name = flavour(found)

    @classmethod
    def available(cls) -> bool:
        return find_executable() is not None

    def _run(self, cmd: list[str], what: str, hint: str, error=EnvError, cwd: Path | None = None) -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
        if proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            raise error(f"{what} failed ({self.name} exit {proc.returncode}): {' '.join(lines[-3:])}", hint)
        return proc.stdout

    def envs_dirs(self) -> list[Path]:
        try:
            info = json.loads(self._run(info_command(self.exe), "info", ""))
        except (EnvError, ValueError):
            return default_envs_dirs()
        dirs = info.get("envs_dirs") or info.get("envs directories") or []
        return [Path(d) for d in dirs] or default_envs_dirs()

    def link(self, prefix: Path, packages: Sequence[LockedDependency], platform: str) -> None:
        with tempfile.TemporaryDirectory(prefix="scaffolder-explicit-") as tmp:
            explicit = Path(tmp) / f"explicit-{platform}.txt"
            explicit.write_text("\n".join(explicit_lines(packages, platform)) + "\n", encoding="utf-8")
            self._run(create_command(self.exe, prefix, explicit), "creating the conda environment",
                      "check that the channels in conda-lock.yml are reachable")

    def lock(
        self,
        env_file: Path,
        lock_file: Path,
        vp_file: Path | None = None,
        *,
        index_args: Sequence[str] = (),
        upgrade: bool | Sequence[str] = False,
    ) -> Lockfile:
        """conda-lock writes into a scratch copy of the lock; only a lock that reads back replaces the old one.

        ``index_args`` are not passed: conda-lock resolves the pip section from the ``pip-repositories``
        key of environment.yml."""
        env_file, lock_file = Path(env_file), Path(lock_file)
        with temporary_dir_beside(lock_file, prefix=f".{lock_file.name}.") as tmp:
            staged = tmp / lock_file.name
            if lock_file.exists() and upgrade is not True:
                shutil.copy2(lock_file, staged)
            update = list(upgrade) if not isinstance(upgrade, bool) else []
            cmd = lock_command(self.exe, env_file.resolve(), staged, vp_file and Path(vp_file).resolve(),
                               update=update, check_input_hash=not update)
            self._run(cmd, "conda-lock", "see the message above; check environment.yml and its channels",
                      error=LockError, cwd=env_file.parent)
            lockfile = read_lock(staged)
            # conda-lock records sources relative to the scratch file; point them at the real one.
            lockfile.metadata.sources = [source_path(env_file, lock_file)]
            write_lock(lockfile, lock_file)
        return lockfile
