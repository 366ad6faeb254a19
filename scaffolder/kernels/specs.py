"""Jupyter kernelspecs that point at an environment's interpreter: register, list, remove, prune, check.

Everything here takes an interpreter path and a kernel name; nothing knows about projects.
Specs are written through jupyter_client's ``KernelSpecManager``, so Jupyter finds them where it
looks. Unlike ``ipykernel install``, registering never silently overwrites a kernel of another
environment, and a replaced or half-written spec is restored from memory if anything fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffolder.errors import InvalidName, KernelError, KernelExists
from scaffolder.fsutil import remove_tree
from scaffolder.names import kernel_name

# Jupyter's own rule is [a-z0-9._-]+ (case-insensitive, stored lower-cased); we also insist on a
# leading letter or digit so that "." and ".." can never become a kernel directory.
_VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
MAX_NAME_LENGTH = 128
SPEC_FILE = "kernel.json"
_LOGOS = ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg")

# Runs inside the target interpreter. find_spec locates ipykernel without importing it (fast).
_PROBE = (
    "import importlib.util, json, platform, sys; s = importlib.util.find_spec('ipykernel'); "
    "print(json.dumps({'prefix': sys.prefix, 'version': list(sys.version_info[:3]), "
    "'implementation': platform.python_implementation(), "
    "'ipykernel': s.origin if s and s.origin else None}))"
)


@dataclass(frozen=True)
class Interpreter:
    """What a Python interpreter says about itself."""

    python: Path
    prefix: Path
    version: tuple[int, ...]
    implementation: str
    ipykernel: Path | None  # ipykernel/__init__.py, None when not installed


@dataclass
class KernelInfo:
    name: str
    resource_dir: Path
    display_name: str = ""
    interpreter: str | None = None  # argv[0] as written in the spec
    env: Path | None = None  # the environment that interpreter belongs to
    exists: bool = False  # whether the interpreter is still there
    managed: bool = False  # written by scaffolder
    error: str | None = None  # why the spec could not be read

    @property
    def stale(self) -> bool:
        """The interpreter is an absolute path that no longer exists: nothing can start this kernel."""
        return self.interpreter is not None and os.path.isabs(self.interpreter) and not self.exists

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "resource_dir": str(self.resource_dir),
            "interpreter": self.interpreter,
            "env": str(self.env) if self.env else None,
            "exists": self.exists,
            "stale": self.stale,
            "managed": self.managed,
            "error": self.error,
        }


@dataclass
class Registration:
    """The outcome of ``register``; ``undo()`` puts back exactly what was there before."""

    kernel: KernelInfo
    replaced: KernelInfo | None = None  # the spec of another environment that was overwritten
    unchanged: bool = False  # an identical spec was already registered
    _previous: dict[str, bytes] | None = field(default=None, repr=False)

    def undo(self) -> None:
        if self.unchanged:
            return
        remove_tree(self.kernel.resource_dir)
        if self._previous is not None:
            _restore(self.kernel.resource_dir, self._previous)


def validate_name(name: str) -> str:
    """Return ``name`` if Jupyter will store it unchanged, else raise InvalidName with a usable suggestion."""
    if _VALID_NAME.match(name) and len(name) <= MAX_NAME_LENGTH:
        return name
    try:
        suggestion = f"try {kernel_name(name)[:MAX_NAME_LENGTH]!r}"
    except InvalidName:
        suggestion = "use lower-case letters, digits, '.', '_' and '-'"
    if len(name) > MAX_NAME_LENGTH:
        problem = f"is longer than {MAX_NAME_LENGTH} characters"
    elif name.lower() != name and _VALID_NAME.match(name.lower()):
        problem = "has upper-case letters, which Jupyter would silently lower-case"
    else:
        problem = "may only hold lower-case letters, digits, '.', '_' and '-', starting with a letter or digit"
    raise InvalidName(f"kernel name {name!r} {problem}", suggestion)


def env_of(python: str | os.PathLike[str]) -> Path:
    """The environment an interpreter path belongs to: ``<env>/bin/python`` (venv and conda on POSIX),
    ``<env>/Scripts/python.exe`` (venv on Windows) or ``<env>/python.exe`` (conda on Windows)."""
    path = Path(os.path.abspath(python))
    return path.parent.parent if path.parent.name in ("bin", "Scripts") else path.parent


def same_env(a: Path | None, b: Path | None) -> bool:
    # Compare the environment directories, never the interpreters: a venv's python is a symlink to
    # the base interpreter, so resolving it would make every venv look the same.
    return a is not None and b is not None and os.path.realpath(a) == os.path.realpath(b)


def probe(python: str | os.PathLike[str]) -> Interpreter:
    """Ask ``python`` for its prefix, version and whether ipykernel is importable."""
    python = Path(python)
    if not python.exists():
        raise KernelError(f"interpreter {python} does not exist", "create the environment first")
    try:
        proc = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise KernelError(f"cannot run {python}: {exc.strerror}", "check the environment") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise KernelError(f"{python} failed to start: {last}", "recreate the environment") from None
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return Interpreter(
        python=python,
        prefix=Path(data["prefix"]),
        version=tuple(data["version"]),
        implementation=data["implementation"],
        ipykernel=Path(data["ipykernel"]) if data["ipykernel"] else None,
    )


def kernel_spec(interp: Interpreter, display_name: str, env: Path | None = None) -> dict[str, Any]:
    """The kernel.json for ``interp``, like ``ipykernel install`` writes, plus the env it belongs to."""
    env = Path(os.path.abspath(env or env_of(interp.python)))
    python_args = ["-Xfrozen_modules=off"] if interp.implementation == "CPython" and interp.version >= (3, 11) else []
    bin_dir = Path(os.path.abspath(interp.python)).parent
    spec_env = {"PATH": f"{bin_dir}{os.pathsep}${{PATH}}"}  # so `!pip` and shell calls in a notebook hit the env
    if (env / "conda-meta").is_dir():
        spec_env["CONDA_PREFIX"] = str(env)
    else:
        spec_env["VIRTUAL_ENV"] = str(env)
    return {
        "argv": [str(interp.python), *python_args, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "env": spec_env,
        "metadata": {"debugger": True, "scaffolder": {"env": str(env)}},
        "kernel_protocol_version": "5.5",
    }


def default_kernel_dirs() -> list[str]:
    """The directories KernelSpecManager searches by default, in its order. Its own default imports
    IPython just to find ~/.ipython/kernels, which costs a second per command; this does not."""
    from jupyter_core.paths import jupyter_path

    ipython_dir = os.path.expanduser(os.path.expandvars(os.environ.get("IPYTHONDIR") or "~/.ipython"))
    return [*jupyter_path("kernels"), os.path.join(ipython_dir, "kernels")]


def _manager(extra_dirs: Iterable[str | os.PathLike[str]] = ()):
    from jupyter_client.kernelspec import KernelSpecManager

    dirs = default_kernel_dirs()
    dirs += [str(d) for d in extra_dirs if str(d) not in dirs]
    return KernelSpecManager(kernel_dirs=dirs)


def kernels_dir(prefix: str | os.PathLike[str] | None = None) -> Path:
    """Where a spec goes: the user's Jupyter data dir, or ``PREFIX/share/jupyter/kernels``."""
    if prefix is not None:
        return Path(os.path.abspath(prefix)) / "share" / "jupyter" / "kernels"
    return Path(_manager().user_kernel_dir)


def _info(name: str, resource_dir: str, spec: dict[str, Any] | None, error: str | None = None) -> KernelInfo:
    info = KernelInfo(name=name, resource_dir=Path(resource_dir), error=error)
    if spec is None:
        return info
    info.display_name = spec.get("display_name", "")
    argv = spec.get("argv") or []
    meta = (spec.get("metadata") or {}).get("scaffolder") or {}
    info.managed = bool(meta)
    if argv:
        interpreter = str(argv[0]).replace("{resource_dir}", str(resource_dir))
        info.interpreter = interpreter
        if os.path.isabs(interpreter):
            info.exists = os.path.exists(interpreter)
            info.env = Path(meta["env"]) if meta.get("env") else env_of(interpreter)
        else:
            info.exists = shutil.which(interpreter) is not None
    return info


def list_kernels(extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> list[KernelInfo]:
    """Every kernelspec Jupyter would find (plus those in ``extra_dirs``), with its interpreter."""
    ksm = _manager(extra_dirs)
    found = []
    for name, resource_dir in sorted(ksm.find_kernel_specs().items()):
        try:
            spec = ksm.get_kernel_spec(name).to_dict()
        except Exception as exc:  # a broken kernel.json must not hide the others
            found.append(_info(name, resource_dir, None, f"{type(exc).__name__}: {exc}"))
            continue
        found.append(_info(name, resource_dir, spec))
    return found


def get_kernel(name: str, extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> KernelInfo | None:
    return next((k for k in list_kernels(extra_dirs) if k.name == name.lower()), None)


def register(
    python: str | os.PathLike[str],
    name: str,
    display_name: str | None = None,
    *,
    prefix: str | os.PathLike[str] | None = None,
    env: str | os.PathLike[str] | None = None,
    replace: bool = False,
    install_ipykernel: Callable[[], None] | None = None,
) -> Registration:
    """Register a kernel that runs ``python``, in the user's Jupyter dir or under ``prefix``.

    A kernel of the same name that belongs to another, still existing environment is refused
    unless ``replace``; one whose interpreter is gone is replaced (``Registration.replaced`` says so).
    If ipykernel is missing, ``install_ipykernel`` is called once to install it.
    """
    validate_name(name)
    interp = probe(python)
    if interp.ipykernel is None:
        if install_ipykernel is None:
            raise KernelError(
                f"ipykernel is not installed in {env or env_of(python)}",
                "add ipykernel to the environment's dependencies and install it",
            )
        install_ipykernel()
        interp = probe(python)
        if interp.ipykernel is None:
            raise KernelError(f"ipykernel is still not importable by {python} after installing it",
                              "check the environment's dependencies")
    spec = kernel_spec(interp, display_name or name, Path(env) if env else None)
    dest_root = kernels_dir(prefix)
    ksm = _manager([dest_root])
    dest = dest_root / name
    current = _read_spec(dest)
    existing = _info(name, str(dest), current) if (dest / SPEC_FILE).is_file() else None
    replaced = None
    if existing is not None:
        target_env = Path(spec["metadata"]["scaffolder"]["env"])
        if current == spec:
            return Registration(kernel=_info(name, str(dest), spec), unchanged=True)
        if not same_env(existing.env, target_env):
            if not (replace or existing.stale):
                where = existing.interpreter or "an unreadable spec"
                raise KernelExists(
                    f"kernel {name!r} already exists and runs {where}, not {interp.python}",
                    "pass --replace to overwrite it, or choose another --name",
                )
            replaced = existing
    previous = _snapshot(dest) if dest.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="scaffolder-kernel-") as tmp:
        staged = Path(tmp) / name
        staged.mkdir()
        resources = interp.ipykernel.parent / "resources"
        for logo in _LOGOS:
            if (resources / logo).is_file():
                shutil.copyfile(resources / logo, staged / logo)
        (staged / SPEC_FILE).write_text(json.dumps(spec, indent=1), encoding="utf-8")
        try:
            installed = ksm.install_kernel_spec(str(staged), kernel_name=name, user=prefix is None,
                                                prefix=str(prefix) if prefix is not None else None)
        except BaseException:
            remove_tree(dest)
            if previous is not None:
                _restore(dest, previous)
            raise
    return Registration(kernel=_info(name, installed, spec), replaced=replaced, _previous=previous)


def remove(name: str, extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> KernelInfo:
    """Delete the kernelspec ``name``; raise KernelError if there is none or it cannot be deleted."""
    info = get_kernel(name, extra_dirs)
    if info is not None and not (info.resource_dir / SPEC_FILE).is_file():
        raise KernelError(f"kernel {name!r} is built into ipykernel and has no spec to remove",
                          "hide it with KernelSpecManager.ensure_native_kernel = False in Jupyter's config")
    if info is None:
        known = ", ".join(k.name for k in list_kernels(extra_dirs)) or "none"
        raise KernelError(f"no kernel named {name!r}", f"registered kernels: {known}")
    try:
        remove_tree(info.resource_dir)
    except OSError as exc:
        raise KernelError(f"cannot remove kernel {name!r} at {info.resource_dir}: {exc.strerror}",
                          "remove it with the rights of whoever installed it") from None
    return info


def prune(dry_run: bool = False, extra_dirs: Iterable[str | os.PathLike[str]] = ()
          ) -> tuple[list[KernelInfo], list[tuple[KernelInfo, str]]]:
    """Remove every kernel whose interpreter no longer exists. Returns (removed, failed with reason)."""
    return _remove_all([k for k in list_kernels(extra_dirs) if k.stale], dry_run)


def kernels_for_env(env: str | os.PathLike[str], extra_dirs: Iterable[str | os.PathLike[str]] = ()
                    ) -> list[KernelInfo]:
    """Kernels whose interpreter lives in ``env``."""
    return [k for k in list_kernels(extra_dirs) if same_env(k.env, Path(env))]


def remove_for_env(env: str | os.PathLike[str], dry_run: bool = False,
                   extra_dirs: Iterable[str | os.PathLike[str]] = ()
                   ) -> tuple[list[KernelInfo], list[tuple[KernelInfo, str]]]:
    """Remove the kernels that point at ``env`` (call it before or after deleting the env)."""
    return _remove_all(kernels_for_env(env, extra_dirs), dry_run)


def check(name: str, python: str | os.PathLike[str], env: str | os.PathLike[str] | None = None,
          extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> list[KernelError]:
    """Problems with kernel ``name`` of the environment of ``python``; an empty list means it is fine."""
    env = Path(env) if env else env_of(python)
    info = get_kernel(name, extra_dirs)
    if info is None:
        return [KernelError(f"kernel {name!r} is not registered", "run 'scaffolder kernel register'")]
    if info.error:
        return [KernelError(f"kernel {name!r} has an unreadable spec: {info.error}",
                            "run 'scaffolder kernel register --replace'")]
    if not same_env(info.env, env):
        return [KernelError(f"kernel {name!r} runs {info.interpreter}, not this project's environment {env}",
                            "run 'scaffolder kernel register --replace'")]
    if not info.exists:
        return [KernelError(f"kernel {name!r} runs {info.interpreter}, which no longer exists",
                            "recreate the environment with 'scaffolder env create'")]
    try:
        if probe(info.interpreter).ipykernel is None:
            return [KernelError(f"kernel {name!r} cannot start: ipykernel is not installed in {env}",
                                "run 'scaffolder env sync'")]
    except KernelError as exc:
        return [exc]
    return []


def _remove_all(kernels: list[KernelInfo], dry_run: bool
                ) -> tuple[list[KernelInfo], list[tuple[KernelInfo, str]]]:
    removed, failed = [], []
    for info in kernels:
        if not (info.resource_dir / SPEC_FILE).is_file():  # ipykernel's built-in python3 has no directory
            failed.append((info, "built into ipykernel, not a directory"))
            continue
        if not dry_run:
            try:
                remove_tree(info.resource_dir)
            except OSError as exc:
                failed.append((info, exc.strerror or str(exc)))
                continue
        removed.append(info)
    return removed, failed


def _read_spec(resource_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((resource_dir / SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _snapshot(root: Path) -> dict[str, bytes]:
    # Kernel specs are a JSON file and a few small logos: keeping them in memory means an undo
    # never depends on a backup directory that could be left behind.
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _restore(root: Path, files: dict[str, bytes]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
