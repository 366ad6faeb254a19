"""A project's environment, one call per command: create, sync, describe, remove, lock, check.

Each env kind has a manager registered in ``envs.MANAGERS``; the env, lock and check commands ask
``envs.manager_for(kind)`` and never name a kind themselves. This module holds the ``venv`` manager:
a virtual environment filled from requirements.lock (+ requirements-dev.lock) by uv, or by pip
when uv is missing or ``installer = "pip"``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scaffolder.config import Settings
from scaffolder.console import Reporter
from scaffolder.envs import get_backend
from scaffolder.envs.base import BeforeRemove, EnvManager, env_dir_at, link_project_source, remove_env_dir
from scaffolder.envs.python import choose_python, wanted_python
from scaffolder.envs.venv.backend import VenvBackend, looks_like_venv
from scaffolder.errors import EnvError, LockError, UsageError
from scaffolder.locks import lockfile
from scaffolder.locks.inputs import fingerprint, project_extras, project_inputs
from scaffolder.locks.locking import (
    DEV_LOCK,
    MAIN_LOCK,
    PYLOCK,
    PYLOCK_DEV,
    CoverageError,
    LockResult,
    fingerprints,
    lock_project,
    lock_state,
    variant_lock,
    variant_locks,
)
from scaffolder.locks.platforms import DEFAULT_PLATFORMS, current_platform, local_marker_environment, parse_platforms
from scaffolder.locks.resolvers import default_engine
from scaffolder.locks.torch_variant import choose_variant, detect_driver_version, resolve_variant, validate_variant
from scaffolder.project import Project
from scaffolder.transaction import Transaction

# installer -> registered backend that makes a venv with it
INSTALLERS: dict[str, str] = {"uv": "uv", "pip": "virtualenv"}
DEFAULT_ENV_PATH = ".venv"
def venv_backend(installer: str | None, settings: Settings | None = None) -> VenvBackend:
    """The backend for ``installer`` (uv or pip); uv when it is there and nothing was asked. With the
    command's ``settings`` it installs from their package sources and compiles bytecode if they say so."""
    if installer is None:
        installer = "uv" if get_backend("uv").available() else "pip"
    if installer not in INSTALLERS:
        raise UsageError(f"unknown installer {installer!r}", f"use one of: {', '.join(INSTALLERS)}")
    backend = get_backend(INSTALLERS[installer])
    if not backend.available():
        raise EnvError(f"installer {installer} is not available here", "install it, or choose the other --installer")
    if settings is not None:
        backend.sources = settings.sources
        backend.compile_bytecode = settings.get("compile_bytecode")
    return backend


def env_path(project: Project) -> Path:
    """The project's venv (``env_path``, default .venv)."""
    return env_dir_at(project.root, project.recorded.get("env_path") or DEFAULT_ENV_PATH)


def lock_files(root: Path) -> list[tuple[str, Path]]:
    """The locks this machine installs: requirements.lock, or requirements.<variant>.lock when this
    machine picks another locked PyTorch build (``machine_torch``), then requirements-dev.lock."""
    variant = machine_torch(root)
    main_name = variant_lock(variant) if variant else MAIN_LOCK
    main, dev = Path(root) / main_name, Path(root) / DEV_LOCK
    return [(main_name, main)] + ([(DEV_LOCK, dev)] if dev.exists() else [])


def lock_file_names(root: Path) -> list[str]:
    """Every lock file the project has: the requirements locks (with each torch build's), then
    pylock.toml and pylock.dev.toml."""
    names = [MAIN_LOCK, DEV_LOCK, *(p.name for p in variant_locks(root).values()), PYLOCK, PYLOCK_DEV]
    return [n for n in names if (Path(root) / n).is_file()]


def machine_torch(root: Path) -> str | None:
    """The locked PyTorch build this machine installs: None for requirements.lock's own, else the
    variant whose requirements.<variant>.lock replaces it.

    ``SCAFFOLDER_TORCH`` asks for one; otherwise (``auto``) the newest locked CUDA build this
    machine's driver runs, else cpu. A build the lock does not have is one line naming the
    ``scaffolder lock --torch`` that adds it."""
    variants = variant_locks(root)
    if not variants:
        return None
    try:
        base = lockfile.read(Path(root) / MAIN_LOCK).meta.get("torch", "none")
    except LockError:
        return None
    locked = [base, *variants]
    wanted = validate_variant(os.environ.get("SCAFFOLDER_TORCH") or "auto")
    if wanted == "auto":
        wanted = choose_variant(detect_driver_version(), [v for v in locked if v.startswith("cu")])
    if wanted == base:
        return None
    if wanted in variants:
        return wanted
    raise EnvError(f"the lock has no {wanted} build of torch (locked: {', '.join(locked)})",
                   f"add it: scaffolder lock --torch {','.join([*locked, wanted])}")


def expected_packages(root: Path, python: str | None = None) -> dict[str, str]:
    """What the locks put into an env of Python ``python`` on this machine: name -> version (or URL)."""
    environment = local_marker_environment(python) if python else None
    expected: dict[str, str] = {}
    for _, path in lock_files(root):
        expected.update(lockfile.read(path).versions(environment))
    return expected


def project_platforms(settings: Settings) -> tuple[str, ...]:
    """The platforms the project locks for: --platform, SCAFFOLDER_PLATFORMS, ``platforms`` in
    [tool.scaffolder], the team file, else linux-x86_64, linux-aarch64, macos-arm64, windows-x86_64."""
    value = settings.get("platforms")
    return parse_platforms(value) if value else DEFAULT_PLATFORMS


def require_coverage(locks: list[tuple[str, lockfile.Lock]], here: str | None = None) -> None:
    """Refuse, in one line, to install a universal lock that does not cover this machine."""
    here = here or current_platform()
    for name, lock in locks:
        if lock.platforms and here not in lock.platforms:
            torch = f" --torch {lock.meta.get('torch')}" if name not in (MAIN_LOCK, DEV_LOCK) else ""
            raise EnvError(f"{name} does not cover this machine ({here}); it is locked for "
                           f"{', '.join(lock.platforms)}",
                           f"add it: scaffolder lock --platform {','.join((*lock.platforms, here))}{torch}")


def install_locked(root: Path, env: Path, backend: VenvBackend, *, reporter: Reporter | None = None) -> int:
    """Make ``env`` match the project's locks exactly, hash-checked; the locks are verified first.

    A universal lock is narrowed to what this machine installs (its markers evaluated for the env's
    Python here), so the installer gets exact pins and hashes and resolves nothing."""
    locks = [(name, lockfile.read_verified(path)) for name, path in lock_files(root)]
    env_version = backend.python_version(env) or ""
    for name, lock in locks:
        locked_for = lock.meta.get("python")
        if locked_for and not (env_version == locked_for or env_version.startswith(locked_for + ".")):
            raise EnvError(f"{name} was made for Python {locked_for} but {env.name} runs Python {env_version}",
                           f"run 'scaffolder lock' for Python {'.'.join(env_version.split('.')[:2])}, "
                           f"or 'scaffolder env create --recreate --python {locked_for}'")
    require_coverage(locks)
    environment = local_marker_environment(env_version) if env_version else None
    locks = [(name, lock.select(environment, name)) if environment else (name, lock) for name, lock in locks]
    merged = lockfile.merge_for_install(locks)
    fd, tmp = tempfile.mkstemp(prefix=".scaffolder-install-", suffix=".txt", dir=env.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(merged)
        # Inside a live step the installer's lines are shown beside it (the reporter decides).
        backend.sync(env, Path(tmp), on_line=reporter.output_sink() if reporter is not None else None)
    finally:
        Path(tmp).unlink(missing_ok=True)
    link_project_source(env, root)
    return sum(len(lock.pins) for _, lock in locks)


def drift(backend: VenvBackend, env: Path, expected: dict[str, str]) -> list[str]:
    """Differences between the env and the lock, one short line each."""
    installed = backend.installed(env)
    lines = []
    for name in sorted(set(expected) | set(installed)):
        want, have = expected.get(name), installed.get(name)
        if want is None:
            if name not in backend.keep:
                lines.append(f"+ {name} {have} (not in the lock)")
        elif have is None:
            lines.append(f"- {name} {want} (in the lock, not installed)")
        elif "://" not in want and not _same_version(want, have):
            lines.append(f"~ {name} {have} (the lock has {want})")
    return lines


class VenvManager(EnvManager):
    kind = "venv"

    def create(self, project: Project, settings, *, recreate: bool = False, reporter: Reporter | None = None
               ) -> dict[str, Any]:
        reporter = reporter or Reporter()
        choice = choose_python(project, settings)
        version, interpreter = choice.version, choice.interpreter
        backend = venv_backend(settings.get("installer"), settings)
        env = env_path(project)
        existed = env.exists() or env.is_symlink()
        if existed and not recreate:
            raise EnvError(f"{_rel(env, project)} already exists",
                           "update it with 'scaffolder env sync', or rebuild it with --recreate")
        if existed and not env.is_symlink() and not looks_like_venv(env):
            raise EnvError(f"{env} is not a virtual environment, so it was not replaced",
                           "move it away, or set env_path in [tool.scaffolder] to another directory")
        with Transaction() as txn:
            txn.guard(env)  # an old env is moved aside, and back if this fails
            reporter.info(choice.describe())
            with reporter.step(f"create {_rel(env, project)} (Python {version}, {backend.installer})"):
                backend.create(env, str(interpreter))
            locked_for = _locked_python(project.root)
            project.recorded.update(python=version, installer=backend.installer)
            if not (project.root / MAIN_LOCK).exists() or locked_for not in (None, version):
                if locked_for is not None:
                    reporter.warn(f"{MAIN_LOCK} is for Python {locked_for}; locking again for Python {version}")
                self.lock(project, settings.with_values(python=version, installer=backend.installer),
                          reporter=reporter, txn=txn)
            else:
                self._warn_if_stale(project, settings, reporter)
            with reporter.step("install from the lock"):
                count = install_locked(project.root, env, backend, reporter=reporter)
        project.record(env="venv", installer=backend.installer, python=version,
                                env_path=_rel(env, project), lock=MAIN_LOCK)
        return {"path": str(env), "python": version, "installer": backend.installer, "packages": count,
                "recreated": existed}

    def sync(self, project: Project, settings, *, reporter: Reporter | None = None) -> dict[str, Any]:
        reporter = reporter or Reporter()
        env = env_path(project)
        backend = venv_backend(settings.get("installer"), settings)
        problem = backend.problem(env)
        if problem:
            fix = "run 'scaffolder env create'" if not env.exists() else "run 'scaffolder env create --recreate'"
            raise EnvError(problem, fix)
        self._warn_if_stale(project, settings, reporter)
        before = drift(backend, env, expected_packages(project.root, backend.python_version(env)))
        with reporter.step(f"sync {_rel(env, project)} with the lock"):
            count = install_locked(project.root, env, backend, reporter=reporter)
        return {"path": str(env), "packages": count, "changed": before}

    def info(self, project: Project, settings) -> dict[str, Any]:
        env = env_path(project)
        backend = venv_backend(settings.get("installer"), settings)
        problem = backend.problem(env)
        states = self.lock_states(project, settings)
        info: dict[str, Any] = {
            "env": "venv", "installer": backend.installer, "path": str(env), "exists": env.exists(),
            "problem": problem, "python": backend.python_version(env) if env.exists() else None,
            "python_wanted": wanted_python(project, settings),
            "packages": len(backend.installed(env)) if problem is None else 0,
            "lock": {name: {"state": state, "detail": detail} for name, (state, detail) in states.items()},
            "matches_lock": None,
        }
        if problem is None and all(state not in ("missing", "corrupted") for state, _ in states.values()):
            info["matches_lock"] = not drift(backend, env, expected_packages(project.root, info["python"]))
        return info

    def remove(self, project: Project, settings, *, reporter: Reporter | None = None,
               before_remove: BeforeRemove | None = None) -> dict[str, Any]:
        env = env_path(project)
        if not (env.exists() or env.is_symlink()):
            return {"path": str(env), "removed": False}
        if not env.is_symlink() and not looks_like_venv(env):
            raise EnvError(f"{env} is not a virtual environment, so it was left alone",
                           "delete it yourself if it should go")
        return remove_env_dir(project, env, reporter, before_remove)

    def lock(self, project: Project, settings, *, upgrade: bool = False, upgrade_packages: Sequence[str] = (),
             reporter: Reporter | None = None, txn: Transaction | None = None,
             extras: Sequence[str] | str | None = None) -> LockResult:
        """Lock the project; ``extras`` (None: the recorded ones) chooses optional-dependencies extras."""
        reporter = reporter or Reporter()
        version = wanted_python(project, settings)
        torch = resolve_variant(settings.get("torch"))
        engine = settings.get("installer") or default_engine()
        extras = project_extras(project) if extras is None else extras
        platforms = project_platforms(settings)
        chosen = bool(settings.get("platforms"))
        variants = settings.get("torch_variants")
        variants = list(project.recorded.get("torch_variants") or []) if variants is None else list(variants)
        if engine == "pip" and platforms != (current_platform(),) and default_engine() == "uv":
            engine = "uv"  # pip-compile has no universal mode; pip still installs the lock
        if _single_platform_lock(project.root):
            reporter.info(f"{MAIN_LOCK} is a single-platform lock; converting it to one lock for "
                          f"{', '.join(platforms)} (its pins are kept where they fit)")
        torch_shown = f"torch {torch}, " if _uses_torch(project) else ""  # not for projects without torch
        with reporter.step(f"lock with {'uv' if engine == 'uv' else 'pip-compile'} (Python {version}, {torch_shown}"
                           f"{', '.join(platforms)})"):
            while True:
                try:
                    result = lock_project(project.root, project.pyproject, python=version, torch=torch,
                                          engine=engine, upgrade=upgrade, upgrade_packages=upgrade_packages,
                                          reporter=reporter, txn=txn, extras=extras, platforms=platforms,
                                          torch_variants=variants, sources=settings.sources,
                                          torch_indexes=settings.torch_indexes(),
                                          inputs=project_inputs(project, extras))
                    break
                except CoverageError as exc:
                    # The default set is best effort: platforms the package sources cannot serve are
                    # dropped, said, and recorded; a set someone chose is kept or refused.
                    kept = tuple(p for p in platforms if p not in exc.uncovered)
                    if chosen or not kept:
                        raise
                    for platform, problem in exc.uncovered.items():
                        reporter.warn(f"not locking for {platform}: {problem} on the configured indexes "
                                      f"(choose the set with 'scaffolder lock --platform ...')")
                    platforms = kept
        # pylock.toml (PEP 751) is written beside requirements.lock by universal (uv) locks; recorded.
        pylock = PYLOCK if (project.root / PYLOCK).exists() else None
        changes = dict(python=version, torch=torch, lock=MAIN_LOCK, extras=extras or None, platforms=list(platforms),
                       pylock=pylock, torch_variants=[v for v in variants if v != torch] or None)
        if txn is not None:
            txn.guard(project.pyproject_path)  # the old table comes back if a later step fails
        project.record(**changes)
        return result

    def lock_states(self, project: Project, settings) -> dict[str, tuple[str, str]]:
        inputs = project_inputs(project)
        platforms = project_platforms(settings)
        main_fp, dev_fp = fingerprints(inputs, wanted_python(project, settings), resolve_variant(settings.get("torch")),
                                       platforms)
        here = current_platform()
        states = {MAIN_LOCK: lock_state(project.root / MAIN_LOCK, main_fp, platforms, here),
                  DEV_LOCK: lock_state(project.root / DEV_LOCK, dev_fp, platforms, here)}
        wanted = set(project.recorded.get("torch_variants") or [])
        for variant, path in variant_locks(project.root).items():
            if variant not in wanted or not inputs.uses_torch:
                states[path.name] = ("stale", f"{path.name} is a torch build the project no longer locks")
                continue
            try:
                covered = sorted(lockfile.read(path).platforms)
            except LockError as exc:
                states[path.name] = ("corrupted", exc.message)
                continue
            expected = fingerprint(inputs.main, python=wanted_python(project, settings), torch=variant,
                                   platforms=covered)
            states[path.name] = lock_state(path, expected)  # its platforms: those with that build
        for variant in sorted(wanted - set(variant_locks(project.root))):
            states[f"requirements.{variant}.lock"] = ("missing", f"requirements.{variant}.lock does not exist")
        return states

    def check(self, project: Project, settings) -> list[str]:
        """Why the project is not reproducible right now; empty when lock and env are both in order."""
        problems = [detail for state, detail in self.lock_states(project, settings).values() if state != "fresh"]
        if project.recorded.get("env", "venv") != "venv" or "env_path" not in project.recorded:
            return problems
        env = env_path(project)
        backend = venv_backend(settings.get("installer"), settings)
        problem = backend.problem(env)
        if problem:
            return problems + [f"environment: {problem} (run 'scaffolder env create --recreate')"]
        wanted = wanted_python(project, settings)
        have = backend.python_version(env) or "?"
        if not (have == wanted or have.startswith(wanted + ".")):
            problems.append(f"environment runs Python {have}, the project wants {wanted}")
        try:
            expected = expected_packages(project.root, have if have != "?" else None)
        except Exception:  # an unreadable lock is already reported above
            return problems
        lines = drift(backend, env, expected)
        if lines:
            problems.append(f"{_rel(env, project)} differs from the lock in {len(lines)} package(s) "
                            "(run 'scaffolder env sync'):")
            problems += [f"  {line}" for line in lines]
        return problems

    def _warn_if_stale(self, project: Project, settings, reporter: Reporter) -> None:
        for state, detail in self.lock_states(project, settings).values():
            if state == "stale":
                reporter.warn(f"{detail}; installing it anyway (run 'scaffolder lock' to update it)")


def _uses_torch(project: Project) -> bool:
    try:
        return project_inputs(project).uses_torch
    except LockError:  # locking reports it
        return True


def _locked_python(root: Path) -> str | None:
    """The Python the main lock records; None when there is no readable scaffolder lock (a corrupted
    one is reported when it is installed, and never replaced behind the user's back)."""
    try:
        return lockfile.read(Path(root) / MAIN_LOCK).meta.get("python")
    except LockError:
        return None


def _single_platform_lock(root: Path) -> bool:
    """Whether the main lock is the older single-platform kind (format 1), which ``lock`` converts."""
    try:
        return (Path(root) / MAIN_LOCK).exists() and not lockfile.read(Path(root) / MAIN_LOCK).platforms
    except LockError:
        return False


def _same_version(a: str, b: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _rel(path: Path, project: Project) -> str:
    return os.path.relpath(path, project.root)
