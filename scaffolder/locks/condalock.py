"""environment.yml in, conda-lock.yml out: the conda side of locking, in conda-lock's own format.

- ``environment.yml`` is validated here so that a broken file gets a one-line error; the
  per-platform specs are then read by conda-lock's own parser (``make_lock_spec``), so
  selectors, ``pip:`` sections and ``python=3.11`` mean what they mean to conda-lock.
- ``virtual-packages.yml`` (conda-lock's ``--virtual-package-spec`` format) says which
  virtual packages each platform has; ``__cuda`` appears only for GPU variants and only on
  platforms that have CUDA, so a CPU lock never picks a CUDA build (conda-lock #426).
- ``conda-lock.yml`` is built from conda-lock's pydantic models and written by conda-lock's
  own writer, so ``conda-lock install`` reads what we write and we read what it writes.
- The content hash per platform is conda-lock's own, so ``conda-lock lock --check-input-hash``
  and ``scaffolder check`` agree on whether a lock is stale.

conda-lock and yaml are imported inside functions: importing conda_lock costs about a second.
"""

from __future__ import annotations

import json
import logging
import os
import platform as _platform
import re
import sys
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffolder.errors import LockError, UsageError
from scaffolder.fsutil import temporary_dir_beside

if TYPE_CHECKING:  # pragma: no cover
    from conda_lock.lockfile.v2prelim.models import LockedDependency, Lockfile
    from conda_lock.models.lock_spec import LockSpecification

ENVIRONMENT_FILE = "environment.yml"
LOCK_FILE = "conda-lock.yml"
VIRTUAL_PACKAGES_FILE = "virtual-packages.yml"
DEFAULT_CHANNELS = ("conda-forge",)
DEFAULT_PLATFORMS = ("linux-64", "osx-arm64", "win-64")
# PyPI name -> conda name, in conda-lock's mapping format; a name listed here is known to be on conda-forge.
MAPPING_FILE = Path(__file__).parent / "data" / "pypi-to-conda.json"

# The virtual packages conda-lock assumes by default, minus __cuda: CUDA is declared only by GPU variants.
BASE_VIRTUAL_PACKAGES: dict[str, dict[str, str]] = {
    "linux-64": {"__unix": "0", "__linux": "5.10", "__glibc": "2.28", "__archspec": "1 x86_64"},
    "linux-aarch64": {"__unix": "0", "__linux": "5.10", "__glibc": "2.28", "__archspec": "1 aarch64"},
    "linux-ppc64le": {"__unix": "0", "__linux": "5.10", "__glibc": "2.28", "__archspec": "1 ppc64le"},
    "osx-64": {"__unix": "0", "__osx": "11.0", "__archspec": "1 x86_64"},
    "osx-arm64": {"__unix": "0", "__osx": "11.0", "__archspec": "1 arm64"},
    "win-64": {"__win": "0", "__archspec": "1 x86_64"},
}
KNOWN_PLATFORMS = tuple(BASE_VIRTUAL_PACKAGES)
# Platforms with NVIDIA CUDA builds of pytorch (the ones conda-lock gives __cuda by default).
CUDA_PLATFORMS = frozenset({"linux-64", "linux-aarch64", "linux-ppc64le", "win-64"})

_ENV_FIX = "fix environment.yml and try again"
_RELOCK = "run 'scaffolder lock' to rewrite it, or restore it from version control"


def current_platform() -> str:
    """The conda subdir of this machine (linux-64, osx-arm64, win-64, ...)."""
    machine = _platform.machine().lower()
    arm = machine in ("arm64", "aarch64")
    if sys.platform.startswith("linux"):
        return {"x86_64": "linux-64", "amd64": "linux-64", "ppc64le": "linux-ppc64le"}.get(
            machine, "linux-aarch64" if arm else f"linux-{machine}"
        )
    if sys.platform == "darwin":
        return "osx-arm64" if arm else "osx-64"
    if sys.platform == "win32":
        return "win-arm64" if arm else "win-64"
    return f"{sys.platform}-{machine}"


# ---------------------------------------------------------------- writing environment.yml


@dataclass(frozen=True)
class CondaDependency:
    spec: str
    selector: str | None = None  # conda-lock platform selector: linux, win, osx, linux64, ...


def _pypi_to_conda() -> dict[str, str]:
    data = json.loads(MAPPING_FILE.read_text(encoding="utf-8"))
    return {name: entry["conda_name"] for name, entry in data.items()}


def conda_to_pypi() -> dict[str, str]:
    return {conda: pypi for pypi, conda in _pypi_to_conda().items()}


def cuda_version(variant: str) -> str:
    """``cu126`` -> ``12.6``, ``cu118`` -> ``11.8``."""
    digits = variant[2:]
    if not (variant.startswith("cu") and digits.isdigit() and len(digits) >= 3):
        raise UsageError(f"unknown torch variant {variant!r}", "use cpu or cuXYZ, for example cu126")
    return f"{digits[:-1]}.{digits[-1]}"


def torch_dependencies(version: str, variant: str | None) -> list[CondaDependency]:
    """The pytorch lines for a variant: ``cpu`` pins a CPU build everywhere; ``cuXYZ`` pins the
    CUDA XYZ build on Linux and Windows and leaves macOS (no CUDA) to its CPU build.

    Lines for all three systems are written whatever the platforms, so adding one later just works."""
    version = version or "*"
    if variant in (None, "", "auto"):
        return [CondaDependency("pytorch" if version == "*" else f"pytorch {version}")]
    if variant == "cpu":
        return [CondaDependency(f"pytorch {version} cpu*")]
    cuda_version(variant)  # validates
    cuda = f"pytorch {version} cuda{variant[2:]}*"
    plain = f"pytorch {version}".removesuffix(" *")
    return [CondaDependency(cuda, "linux"), CondaDependency(plain, "osx"), CondaDependency(cuda, "win")]


_PYTORCH_LINE = re.compile(r"^(?P<indent>\s*-\s+)(?P<spec>pytorch(?=[\s=<>!~]|$)[^#]*)(?P<comment>#.*)?$")


def retarget_torch(text: str, variant: str | None) -> str:
    """environment.yml text whose pytorch lines are those of ``variant``; the version constraint is kept.

    The first pytorch line is replaced by the variant's lines (with their selectors), later ones are
    dropped; every other line, comment and blank is left as it was. No pytorch line: text unchanged."""
    from conda_lock.src_parser.conda_common import conda_spec_to_versioned_dep

    out: list[str] = []
    done = False
    for line in text.splitlines():
        match = _PYTORCH_LINE.match(line)
        if match is None:
            out.append(line)
            continue
        if not done:
            version = conda_spec_to_versioned_dep(match["spec"].strip(), "main").version or ""
            out += [match["indent"] + _dependency_text(dep) for dep in torch_dependencies(version, variant)]
            done = True
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def split_requirements(
    requirements: Iterable[str], torch_variant: str | None
) -> tuple[list[CondaDependency], list[str]]:
    """PEP 508 requirements -> conda dependencies for names known on conda-forge, pip for the rest.

    A requirement with extras, markers, a URL or ``===`` stays with pip: conda cannot express it.
    """
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    names = _pypi_to_conda()
    conda: list[CondaDependency] = []
    pip: list[str] = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise UsageError(f"invalid requirement {text!r}: {exc}", "fix the project's dependencies") from None
        conda_name = names.get(canonicalize_name(req.name))
        specifiers = [str(s) for s in req.specifier]
        if conda_name is None or req.extras or req.marker or req.url or any(s.startswith("===") for s in specifiers):
            pip.append(text)
            continue
        version = ",".join(specifiers)
        if conda_name == "pytorch":
            conda.extend(torch_dependencies(version, torch_variant))
        else:
            conda.append(CondaDependency(f"{conda_name} {version}".strip()))
    return conda, pip


def _yaml_scalar(value: str) -> str:
    import yaml

    try:
        if yaml.safe_load(value) == value and " #" not in value:
            return value
    except yaml.YAMLError:
        pass
    return json.dumps(value)


def _dependency_text(dep: CondaDependency) -> str:
    return _yaml_scalar(dep.spec) + (f"  # [{dep.selector}]" if dep.selector else "")


def render_environment(
    name: str,
    channels: Sequence[str],
    conda: Sequence[CondaDependency],
    pip: Sequence[str] = (),
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
) -> str:
    """environment.yml text. Written by hand rather than yaml.dump because selectors are comments."""
    check_platforms(platforms)
    if not channels:
        raise UsageError("no conda channels given", "name at least one channel, for example conda-forge")
    lines = [
        "# Conda environment: edit it, then run 'scaffolder lock' and 'scaffolder env sync'.",
        "# Lines ending in '# [linux]', '# [win]' or '# [osx]' apply to those platforms only (conda-lock selectors).",
        f"name: {_yaml_scalar(name)}",
        "channels:",
        *(f"  - {_yaml_scalar(c)}" for c in channels),
        "dependencies:",
    ]
    lines += [f"  - {_dependency_text(dep)}" for dep in conda]
    if pip:
        lines.append("  - pip")
        lines.append("  - pip:")
        lines.extend(f"      - {_yaml_scalar(p)}" for p in pip)
    lines.append("platforms:")
    lines.extend(f"  - {p}" for p in platforms)
    return "\n".join(lines) + "\n"


def environment_for_project(
    name: str,
    requirements: Iterable[str],
    python: str | None = None,
    torch_variant: str | None = None,
    channels: Sequence[str] = DEFAULT_CHANNELS,
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
) -> str:
    """environment.yml for a project: python, the conda-forge-known requirements, the rest under pip."""
    conda, pip = split_requirements(requirements, torch_variant)
    head = [CondaDependency(python_spec(python))] if python else []
    return render_environment(name, channels, head + conda, pip, platforms)


def python_spec(python: str) -> str:
    """``3.11`` -> ``python 3.11.*``; anything else is taken as a conda version spec."""
    return f"python {python}.*" if re.fullmatch(r"\d+\.\d+", python) else f"python {python}"


def check_platforms(platforms: Iterable[str]) -> None:
    unknown = [p for p in platforms if p not in KNOWN_PLATFORMS]
    if unknown:
        raise UsageError(f"unknown conda platform(s): {', '.join(unknown)}", f"use {', '.join(KNOWN_PLATFORMS)}")


def render_virtual_packages(torch_variant: str | None, platforms: Sequence[str]) -> str:
    """virtual-packages.yml (conda-lock's format): ``__cuda`` only for GPU variants on CUDA platforms."""
    import yaml

    check_platforms(platforms)
    cuda = cuda_version(torch_variant) if torch_variant and torch_variant.startswith("cu") else None
    subdirs: dict[str, Any] = {}
    for plat in platforms:
        packages = dict(BASE_VIRTUAL_PACKAGES[plat])
        if cuda and plat in CUDA_PLATFORMS:
            packages["__cuda"] = cuda
        subdirs[plat] = {"packages": packages}
    header = (
        "# Virtual packages each locked platform is assumed to have (conda-lock --virtual-package-spec).\n"
        f"# torch variant: {torch_variant or 'none'}. __cuda is declared only for GPU variants, on CUDA platforms.\n"
    )
    return header + yaml.safe_dump({"subdirs": subdirs}, sort_keys=False)


def extend_virtual_packages(text: str, torch_variant: str | None, platforms: Iterable[str]) -> str | None:
    """virtual-packages.yml text that also covers ``platforms``: missing subdirs are added as
    ``render_virtual_packages`` writes them, the others kept as they are; None when none is missing."""
    import yaml

    data = yaml.safe_load(text) or {}
    subdirs = data.setdefault("subdirs", {}) if isinstance(data, dict) else None
    if not isinstance(subdirs, dict):
        raise UsageError("virtual-packages.yml has no 'subdirs' mapping", "delete it; 'scaffolder lock' rewrites it")
    missing = [p for p in platforms if p not in subdirs]
    if not missing:
        return None
    subdirs.update(yaml.safe_load(render_virtual_packages(torch_variant, missing))["subdirs"])
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    return header + yaml.safe_dump(data, sort_keys=False)


# ---------------------------------------------------------------- reading environment.yml


def read_environment(path: Path) -> dict[str, Any]:
    """Load and validate environment.yml; every problem becomes a one-line UsageError."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path} not found", "run 'scaffolder env create --env conda' to write one") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}", _ENV_FIX) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} must be a mapping with 'channels' and 'dependencies'", _ENV_FIX)
    channels = data.get("channels")
    if not isinstance(channels, list) or not [c for c in channels if c != "nodefaults"]:
        raise UsageError(f"{path} lists no channels", "add for example 'channels: [conda-forge]'")
    if not all(isinstance(c, str) and c.strip() for c in channels):
        raise UsageError(f"{path}: every channel must be a name or URL", _ENV_FIX)
    deps = data.get("dependencies")
    if not isinstance(deps, list):
        raise UsageError(f"{path} has no 'dependencies' list", _ENV_FIX)
    for dep in deps:
        if isinstance(dep, str):
            _check_conda_spec(path, dep)
        elif isinstance(dep, dict) and set(dep) == {"pip"} and isinstance(dep["pip"], list):
            for req in dep["pip"]:
                _check_pip_requirement(path, req)
        else:
            raise UsageError(f"{path}: dependency {dep!r} is neither a conda spec nor a 'pip:' list", _ENV_FIX)
    platforms = data.get("platforms", [])
    if not isinstance(platforms, list) or not all(isinstance(p, str) for p in platforms):
        raise UsageError(f"{path}: 'platforms' must be a list such as [linux-64, osx-arm64]", _ENV_FIX)
    check_platforms(platforms)
    return data


def _check_conda_spec(path: Path, spec: str) -> None:
    from conda_lock.src_parser.conda_common import conda_spec_to_versioned_dep

    try:
        conda_spec_to_versioned_dep(spec, "main")
    except Exception:
        raise UsageError(f"{path}: {spec!r} is not a valid conda package spec", _ENV_FIX) from None


def _check_pip_requirement(path: Path, req: object) -> None:
    from packaging.requirements import InvalidRequirement, Requirement

    if not isinstance(req, str):
        raise UsageError(f"{path}: pip entry {req!r} is not a requirement string", _ENV_FIX)
    if req.lstrip().startswith("-"):
        raise UsageError(
            f"{path}: pip option {req!r} is not supported", "configure package indexes in scaffolder settings instead"
        )
    try:
        Requirement(req)
    except InvalidRequirement as exc:
        raise UsageError(f"{path}: pip requirement {req!r} is invalid: {exc}", _ENV_FIX) from None


@contextmanager
def _quiet_selectors():
    """conda-lock logs a warning for every selector line it drops: by design here, so not news."""
    logger = logging.getLogger("conda_lock.src_parser.selectors")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def lock_specification(env_file: Path) -> LockSpecification:
    """conda-lock's own view of environment.yml: per-platform dependencies, channels, sources."""
    read_environment(env_file)
    from conda_lock.src_parser import make_lock_spec

    try:
        with _quiet_selectors():
            return make_lock_spec(src_files=[Path(env_file)], mapping_url=str(MAPPING_FILE))
    except Exception as exc:  # conda-lock raises plain ValueError/RuntimeError for bad input
        raise UsageError(f"{env_file}: {exc}", _ENV_FIX) from None


def match_specs(lock_spec: LockSpecification, platform: str) -> list[str]:
    """The conda match specs for ``platform``, in the form conda-lock hands to a solver."""
    specs = []
    for dep in lock_spec.dependencies.get(platform, []):
        if dep.manager != "conda":
            continue
        version = dep.version or ("*" if dep.build else "")
        spec = " ".join(x for x in (dep.name, version, dep.build or "") if x)
        specs.append(f"{dep.conda_channel}::{spec}" if dep.conda_channel else spec)
    return specs


def pip_requirements(env_file: Path, platform: str) -> list[str]:
    """The ``pip:`` entries that apply to ``platform`` (selectors filtered as conda-lock does)."""
    import yaml
    from conda_lock.src_parser.selectors import filter_platform_selectors

    text = Path(env_file).read_text(encoding="utf-8")
    with _quiet_selectors():
        data = yaml.safe_load("\n".join(filter_platform_selectors(text, platform=platform))) or {}
    reqs: list[str] = []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict) and dep.get("pip"):
            reqs.extend(dep["pip"])
    return reqs


def virtual_packages_for(vp_file: Path | None, platform: str) -> list[tuple[str, str, str]]:
    """(name, version, build) of the virtual packages ``platform`` is assumed to have.

    Without a virtual-packages.yml, conda-lock's own defaults apply (which include __cuda)."""
    import yaml

    if vp_file is None or not Path(vp_file).exists():
        from conda_lock.virtual_package import DEFAULT_VIRTUAL_PACKAGES_YAML_PATH

        vp_file = Path(DEFAULT_VIRTUAL_PACKAGES_YAML_PATH)
    try:
        data = yaml.safe_load(Path(vp_file).read_text(encoding="utf-8"))
        packages = data["subdirs"].get(platform, {}).get("packages", {}) or {}
    except (yaml.YAMLError, KeyError, TypeError, AttributeError):
        raise UsageError(f"{vp_file} is not a valid virtual package spec", _ENV_FIX) from None
    result = []
    for name, spec in packages.items():
        if not str(name).startswith("__"):
            raise UsageError(f"{vp_file}: {name!r} is not a virtual package (names start with __)", _ENV_FIX)
        version, _, build = str(spec).partition(" ")
        result.append((name, version, build))
    return result


def _virtual_package_repo(vp_file: Path | None):
    from conda_lock.virtual_package import default_virtual_package_repodata, virtual_package_repo_from_specification

    if vp_file is not None and Path(vp_file).exists():
        try:
            return virtual_package_repo_from_specification(Path(vp_file))
        except Exception as exc:
            raise UsageError(f"{vp_file} is not a valid virtual package spec: {exc}", _ENV_FIX) from None
    return default_virtual_package_repodata()


def content_hashes(lock_spec: LockSpecification, vp_file: Path | None) -> dict[str, str]:
    """conda-lock's per-platform content hash of the inputs (specs, channels, virtual packages)."""
    from conda_lock.content_hash import compute_content_hashes

    return dict(compute_content_hashes(lock_spec, _virtual_package_repo(vp_file)))


def stale_platforms(lockfile: Lockfile, env_file: Path, vp_file: Path | None) -> list[str]:
    """Platforms whose locked solution no longer matches the inputs (or that were added or removed)."""
    from conda_lock.conda_lock import backwards_compatible_content_hashes

    lock_spec = lock_specification(env_file)
    repo = _virtual_package_repo(vp_file)
    locked = lockfile.metadata.content_hash
    stale = set(lockfile.metadata.platforms) ^ set(lock_spec.platforms)
    for plat in lock_spec.platforms:
        if plat in locked and locked[plat] not in backwards_compatible_content_hashes(lock_spec, repo, plat):
            stale.add(plat)
    return sorted(stale)


# ---------------------------------------------------------------- conda-lock.yml


def new_lockfile(
    packages: list[LockedDependency],
    lock_spec: LockSpecification,
    hashes: dict[str, str],
    sources: Sequence[str] = (ENVIRONMENT_FILE,),
    custom: dict[str, str] | None = None,
) -> Lockfile:
    from conda_lock.lockfile.v2prelim.models import Lockfile, LockMeta

    meta = LockMeta(
        content_hash=hashes,
        channels=lock_spec.channels,
        platforms=sorted(lock_spec.platforms),
        sources=list(sources),
        custom_metadata=custom or None,
    )
    lockfile = Lockfile(package=packages, metadata=meta)
    check_integrity(lockfile, Path(LOCK_FILE))
    return lockfile


def source_path(env_file: Path, lock_file: Path) -> str:
    """``env_file`` relative to the lock's directory, the way conda-lock records ``sources``."""
    return Path(os.path.relpath(Path(env_file).resolve(), Path(lock_file).resolve().parent)).as_posix()


def write_lock(lockfile: Lockfile, path: Path) -> None:
    """Write with conda-lock's own writer, into a scratch directory beside ``path``, then rename.

    The scratch file has the final name because conda-lock's header quotes it."""
    from conda_lock.lockfile import write_conda_lock_file

    path = Path(path)
    with temporary_dir_beside(path, prefix=f".{path.name}.") as tmp:
        staged = tmp / path.name
        write_conda_lock_file(lockfile, staged, metadata_choices=set())
        read_lock(staged)  # what we wrote must read back
        os.replace(staged, path)


def read_lock(path: Path) -> Lockfile:
    """Parse conda-lock.yml with conda-lock's reader, then check that it hangs together."""
    from conda_lock.lockfile import parse_conda_lock_file

    path = Path(path)
    if not path.exists():
        raise LockError(f"{path} not found", "run 'scaffolder lock' to write it")
    try:
        lockfile = parse_conda_lock_file(path)
    except Exception as exc:  # yaml, pydantic and conda-lock's own errors all mean "unreadable"
        raise LockError(f"{path} is not a valid conda-lock file: {_first_line(exc)}", _RELOCK) from None
    check_integrity(lockfile, path)
    return lockfile


def _first_line(exc: Exception) -> str:
    if isinstance(exc, KeyError):  # raised from inside conda-lock's validators
        return f"missing or invalid field {exc}"
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic ValidationError: say which field
        try:
            first = errors()[0]
            return f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"
        except Exception:  # noqa: BLE001 - fall back to the text
            pass
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_HEX = {"md5": re.compile(r"[0-9a-f]{32}"), "sha256": re.compile(r"[0-9a-f]{64}")}


def archive_stem(url: str) -> str:
    """``.../noarch/liba-1.0-0.tar.bz2`` -> ``liba-1.0-0``."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".tar.bz2", ".conda"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return ""


def build_string(dep: LockedDependency) -> str:
    """The build of a conda entry; conda-lock leaves ``build`` empty, so read it from the URL."""
    return dep.build or archive_stem(dep.url).rsplit("-", 1)[-1]


def check_integrity(lockfile: Lockfile, path: Path) -> None:
    """Catch hand edits that conda-lock's schema lets through: an entry whose name or version no
    longer matches its archive, a missing or malformed hash, a platform without a content hash."""
    for dep in lockfile.package:
        where = f"{path}: {dep.manager} package {dep.name} ({dep.platform})"
        if dep.manager == "conda" and not dep.name.startswith("__"):
            stem = archive_stem(dep.url)
            if not stem or stem.rsplit("-", 1)[0] != f"{dep.name}-{dep.version}":
                raise LockError(f"{where}: version {dep.version} does not match its archive {dep.url}", _RELOCK)
            if dep.build and stem.rsplit("-", 1)[-1] != dep.build:
                raise LockError(f"{where}: build {dep.build} does not match its archive {dep.url}", _RELOCK)
            if not _HEX["md5"].fullmatch(dep.hash.md5 or ""):
                raise LockError(f"{where} has no valid md5", _RELOCK)
        if (dep.manager == "pip" or dep.hash.sha256) and not _HEX["sha256"].fullmatch(dep.hash.sha256 or ""):
            raise LockError(f"{where} has no valid sha256", _RELOCK)
    missing = [p for p in lockfile.metadata.platforms if p not in lockfile.metadata.content_hash]
    if missing:
        raise LockError(f"{path} has no content hash for {', '.join(missing)}", _RELOCK)


def locked_packages(lockfile: Lockfile, platform: str, manager: str) -> list[LockedDependency]:
    """The ``manager`` ("conda" or "pip") entries of ``platform``, virtual packages left out."""
    return [
        dep
        for dep in lockfile.package
        if dep.platform == platform and dep.manager == manager and not dep.name.startswith("__")
    ]


def require_platform(lockfile: Lockfile, platform: str, path: Path) -> None:
    if platform not in lockfile.metadata.platforms:
        raise LockError(
            f"{path} has no solution for this platform ({platform}); "
            f"it covers {', '.join(lockfile.metadata.platforms)}",
            f"add {platform} to 'platforms' in environment.yml and run 'scaffolder lock'",
        )
