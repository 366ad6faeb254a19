"""A project's conda environment, one call per command: write its inputs, lock, sync, check, describe.

The files live in the project root: ``environment.yml`` (the user's to edit), ``virtual-packages.yml``
(which platforms have CUDA, from the torch variant) and ``conda-lock.yml``. The environment is the
prefix ``.conda/`` in the project unless ``[tool.scaffolder] env_name`` names a shared env
(``~/.conda/envs/NAME`` or wherever the conda executable keeps named envs).
The commands (``new --env conda``, ``env``, ``lock``, ``check``) call these; the engine comes from
``scaffolder.envs.conda.executable.select_engine``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffolder.console import Reporter
from scaffolder.envs.base import BeforeRemove, EnvManager, env_dir_at, link_project_source, remove_env_dir
from scaffolder.envs.conda.engine import CondaEngine, installed_conda
from scaffolder.envs.conda.executable import select_engine
from scaffolder.envs.python import choose_python
from scaffolder.errors import EnvError, LockError, UsageError
from scaffolder.fsutil import atomic_write_text
from scaffolder.indexes import IndexConfig, uv_index_args
from scaffolder.locks.condalock import (
    DEFAULT_CHANNELS,
    DEFAULT_PLATFORMS,
    ENVIRONMENT_FILE,
    KNOWN_PLATFORMS,
    LOCK_FILE,
    VIRTUAL_PACKAGES_FILE,
    current_platform,
    environment_for_project,
    extend_virtual_packages,
    lock_specification,
    read_lock,
    render_virtual_packages,
    retarget_torch,
    stale_platforms,
)
from scaffolder.locks.inputs import project_inputs
from scaffolder.locks.locking import LockResult
from scaffolder.locks.torch_variant import resolve_variant
from scaffolder.transaction import Transaction

if TYPE_CHECKING:  # pragma: no cover
    from conda_lock.lockfile.v2prelim.models import Lockfile

    from scaffolder.project import Project

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


def prefix_for(root: Path, settings: Mapping[str, Any], engine: CondaEngine | None) -> Path:
    """The env's prefix; ``engine`` is needed only for a named env (it knows where those live)."""
    name = settings.get("env_name")
    if name:
        if engine is None:
            engine = select_engine()
        return engine.named_prefix(str(name))
    return env_dir_at(root, settings.get("env_path") or ENV_DIR)


def lock_platforms(platforms: Iterable[str] | None) -> list[str]:
    """The platforms to lock: those asked for (default linux-64, osx-arm64, win-64) plus this machine's."""
    chosen = list(platforms or DEFAULT_PLATFORMS)
    here = current_platform()
    if here in KNOWN_PLATFORMS and here not in chosen:
        chosen.append(here)
    return chosen


def _guard(path: Path, txn: Transaction | None) -> None:
    """Let ``txn`` undo a write to ``path``: delete it if new, restore it if it existed."""
    if txn is not None:
        txn.guard(path)


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


def lock_state(files: CondaFiles) -> tuple[str, str]:
    """(state, detail) of conda-lock.yml: fresh, missing, corrupted (unreadable or tampered) or stale."""
    name = files.lock_file.name
    if not files.lock_file.exists():
        return "missing", f"{name} does not exist (run 'scaffolder lock')"
    try:
        lockfile = read_lock(files.lock_file)
    except LockError as exc:
        return "corrupted", exc.format_message()
    stale = stale_platforms(lockfile, files.env_file, files.virtual_packages)
    if stale:
        return "stale", (f"{name} is stale for {', '.join(stale)}: {files.env_file.name} or {files.vp_file.name} "
                         "changed since it was locked (run 'scaffolder lock')")
    return "fresh", ""


def check(files: CondaFiles, engine: CondaEngine, prefix: Path) -> list[str]:
    """Everything that makes the project's conda env not reproducible right now; empty when all is well."""
    state, detail = lock_state(files)
    problems = [detail] if state != "fresh" else []
    if state in ("missing", "corrupted"):
        return problems
    if not (Path(prefix) / "conda-meta").is_dir():
        return problems + [f"environment: no conda environment at {prefix} (run 'scaffolder env create')"]
    lockfile = read_lock(files.lock_file)
    here = current_platform()
    if here not in lockfile.metadata.platforms:
        return problems + [f"{files.lock_file.name} has no solution for {here} (add it to platforms and relock)"]
    lines = engine.drift(prefix, lockfile, here)
    if lines:
        problems.append(f"{prefix} differs from the lock in {len(lines)} package(s) (run 'scaffolder env sync'):")
        problems += [f"  {line}" for line in lines]
    return problems


def describe(files: CondaFiles, engine: CondaEngine, prefix: Path) -> dict[str, Any]:
    """What ``env info`` shows for a conda project."""
    info: dict[str, Any] = {
        "env": "conda",
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


# ------------------------------------------------------------ the env, lock and check commands


class CondaManager(EnvManager):
    """The conda env behind ``env``, ``lock`` and ``check`` (registered in envs.MANAGERS)."""

    kind = "conda"

    def engine(self, settings) -> CondaEngine:  # noqa: ANN001 - config.Settings
        return select_engine(settings.get("conda.engine"), settings.get("conda.exe"), settings.get("conda.search"))

    def files(self, project: Project) -> CondaFiles:
        return CondaFiles.of(project.root, project.recorded)

    def torch(self, project: Project, settings) -> str | None:  # noqa: ANN001
        """The concrete torch variant, or None when the project does not use torch."""
        return resolve_variant(settings.get("torch")) if project_inputs(project, ()).uses_torch else None

    def python(self, project: Project, settings) -> str:  # noqa: ANN001
        return self.python_choice(project, settings).version

    def python_choice(self, project: Project, settings):  # noqa: ANN001, ANN201 - pythons.PythonChoice
        """The Python conda installs: as for a venv, but from the channel, so any known version fits."""
        version = str(settings.get("python") or "")
        if "/" in version or "\\" in version:
            raise UsageError(f"a conda env takes a Python version, not the interpreter {version}",
                             "pass --python 3.X; conda installs that Python into the env")
        return choose_python(project, settings, installed=False)

    def ensure_inputs(self, project: Project, settings, *, txn: Transaction | None = None) -> list[Path]:  # noqa: ANN001
        """environment.yml and virtual-packages.yml from the project's dependencies, unless they exist."""
        inputs = project_inputs(project, ())  # a conda project lists no extras: environment.yml holds them
        return write_inputs(
            self.files(project), name=project.name, requirements=inputs.main.lines() + inputs.dev.lines(),
            python=self.python(project, settings), torch_variant=self.torch(project, settings),
            channels=settings.get("conda.channels"), platforms=settings.get("conda.platforms"), txn=txn,
        )  # fmt: skip

    def _retarget(self, project: Project, variant: str | None, txn: Transaction | None) -> None:
        """A new torch variant rewrites virtual-packages.yml and environment.yml's pytorch lines."""
        recorded = project.recorded.get("torch")
        files = self.files(project)
        if variant is None or recorded in (None, variant) or not files.env_file.exists():
            return
        platforms = sorted(lock_specification(files.env_file).platforms)
        for path, text in ((files.vp_file, render_virtual_packages(variant, platforms)),
                           (files.env_file, retarget_torch(files.env_file.read_text(encoding="utf-8"), variant))):
            _guard(path, txn)
            atomic_write_text(path, text)

    def _cover_platforms(self, files: CondaFiles, variant: str | None, txn: Transaction | None) -> None:
        """A platform added to environment.yml gets its virtual packages, so it is not solved without any."""
        if not files.vp_file.exists():
            return
        platforms = sorted(lock_specification(files.env_file).platforms)
        text = extend_virtual_packages(files.vp_file.read_text(encoding="utf-8"), variant, platforms)
        if text is not None:
            _guard(files.vp_file, txn)
            atomic_write_text(files.vp_file, text)

    def lock(self, project: Project, settings, *, upgrade: bool = False, upgrade_packages: Sequence[str] = (),  # noqa: ANN001
             reporter: Reporter | None = None, txn: Transaction | None = None, extras: Sequence[str] | None = None):
        if extras is not None:
            raise UsageError("--extra, --all-extras and --no-extras choose extras for venv projects",
                             "a conda project lists its packages in environment.yml: edit it, then lock")
        reporter = reporter or Reporter()
        files = self.files(project)
        engine = self.engine(settings)
        variant = self.torch(project, settings)
        self.ensure_inputs(project, settings, txn=txn)
        self._retarget(project, variant, txn)
        self._cover_platforms(files, variant, txn)
        before = files.lock_file.read_bytes() if files.lock_file.exists() else None
        label = f"lock {files.env_file.name} with {engine.name}" + (f" (torch {variant})" if variant else "")
        with reporter.step(label):
            lockfile = lock(files, engine, index_args=pip_index_args(settings.sources), txn=txn,
                            upgrade=list(upgrade_packages) if upgrade_packages else upgrade)
        changes = {"torch": variant} if variant else {}
        if changes:
            _guard(project.pyproject_path, txn)  # the old table comes back if a later step fails
            project.record(**changes)
        here = [p for p in lockfile.package if p.platform == current_platform()]
        return LockResult(
            main=files.lock_file, dev=None, packages=len(here), dev_packages=0, engine=engine.name, torch=variant,
            written=[] if before == files.lock_file.read_bytes() else [files.lock_file.name],
        )  # fmt: skip

    def lock_states(self, project: Project, settings) -> dict[str, tuple[str, str]]:  # noqa: ANN001
        files = self.files(project)
        return {files.lock_file.name: lock_state(files)}

    def create(self, project: Project, settings, *, recreate: bool = False,  # noqa: ANN001
               reporter: Reporter | None = None) -> dict[str, Any]:
        reporter = reporter or Reporter()
        engine = self.engine(settings)
        files = self.files(project)
        prefix = prefix_for(project.root, project.recorded, engine)
        existed = prefix.exists()
        if existed and not recreate:
            raise EnvError(f"{prefix} already exists",
                           "update it with 'scaffolder env sync', or rebuild it with --recreate")
        if existed and not (prefix / "conda-meta").is_dir():
            raise EnvError(f"{prefix} is not a conda environment, so it was not replaced",
                           "move it away, or set env_path in [tool.scaffolder] to another directory")
        choice = self.python_choice(project, settings)
        python = choice.version
        reporter.info(choice.describe())
        with Transaction() as txn:
            self.ensure_inputs(project, settings, txn=txn)
            state, detail = lock_state(files)
            if state in ("missing", "corrupted"):
                self.lock(project, settings, reporter=reporter, txn=txn)
            elif state == "stale":
                reporter.warn(f"{detail}; installing it anyway")
            txn.guard(prefix)  # an old env is moved aside, and back if this fails
            with reporter.step(f"create {shown_path(prefix, project)} with {engine.name}"):
                sync(files, engine, prefix, txn=txn)
                link_project_source(prefix, project.root)
        changes: dict[str, Any] = {"env": "conda", "python": python, "lock": files.lock_file.name}
        changes.update({"torch": project.recorded["torch"]} if project.recorded.get("torch") else {})
        if not project.recorded.get("env_name"):
            changes["env_path"] = shown_path(prefix, project)
        project.record(**changes)
        return {"path": str(prefix), "python": installed_python(prefix), "installer": engine.name,
                "packages": len(engine.installed(prefix)), "recreated": existed}

    def sync(self, project: Project, settings, *, reporter: Reporter | None = None) -> dict[str, Any]:  # noqa: ANN001
        reporter = reporter or Reporter()
        engine = self.engine(settings)
        files = self.files(project)
        prefix = prefix_for(project.root, project.recorded, engine)
        state, detail = lock_state(files)
        if state == "stale":
            reporter.warn(f"{detail}; installing it anyway")
        with reporter.step(f"sync {shown_path(prefix, project)} with the lock ({engine.name})"):
            changed = sync(files, engine, prefix)
            link_project_source(prefix, project.root)
        return {"path": str(prefix), "packages": len(engine.installed(prefix)), "changed": changed}

    def info(self, project: Project, settings) -> dict[str, Any]:  # noqa: ANN001
        engine = self.engine(settings)
        files = self.files(project)
        prefix = prefix_for(project.root, project.recorded, engine)
        data = describe(files, engine, prefix)
        data["path"] = data.pop("prefix")
        state, detail = lock_state(files)
        data["lock"] = {files.lock_file.name: {"state": state, "detail": detail}}
        data["matches_lock"] = None
        if data["exists"] and state not in ("missing", "corrupted"):
            data["matches_lock"] = not engine.drift(prefix, read_lock(files.lock_file))
        return data

    def remove(self, project: Project, settings, *, reporter: Reporter | None = None,  # noqa: ANN001
               before_remove: BeforeRemove | None = None) -> dict[str, Any]:
        prefix = prefix_for(project.root, project.recorded, self.engine(settings))
        if not prefix.exists():
            return {"path": str(prefix), "removed": False}
        if not (prefix / "conda-meta").is_dir():
            raise EnvError(f"{prefix} is not a conda environment, so it was left alone",
                           "delete it yourself if it should go")
        return remove_env_dir(project, prefix, reporter, before_remove)

    def check(self, project: Project, settings) -> list[str]:  # noqa: ANN001
        files = self.files(project)
        if project.recorded.get("env") != "conda":
            state, detail = lock_state(files)
            return [detail] if state != "fresh" else []
        engine = self.engine(settings)
        return check(files, engine, prefix_for(project.root, project.recorded, engine))


def pip_index_args(config: IndexConfig) -> list[str]:
    """Where the pip: section's packages come from: the same sources (``settings.sources``) the venv
    backend uses."""
    return uv_index_args(config) + [arg for path in config.constraints for arg in ("-c", path)]


def installed_python(prefix: Path) -> str | None:
    record = installed_conda(prefix).get("python")
    return record.version if record else None


def shown_path(path: Path, project: Project) -> str:
    """``path`` as a user reads it and [tool.scaffolder] records it: relative to the project if inside."""
    try:
        return str(Path(path).relative_to(project.root))
    except ValueError:
        return str(path)
