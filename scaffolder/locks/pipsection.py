"""The ``pip:`` section of a conda environment: locked per platform with uv, installed with uv
after the conda packages, every wheel hash-checked.

Locking: ``uv pip compile --format pylock.toml --python-platform ...`` gives, per package, the URL
and sha256 of the one file that platform installs; each becomes a conda-lock ``pip`` entry.
Packages the conda solution already provides are excluded from the pip resolution (``--excludes``,
with their PyPI dependencies), so pip never replaces conda's pytorch nor pulls torch's nvidia wheels.

Installing: ``uv pip install --no-deps --require-hashes`` of ``name @ url --hash=sha256:...``
lines, which is what conda-lock's own ``pip install --no-deps`` step does, plus hash checking.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scaffolder import tomlfile
from scaffolder.errors import EnvError, LockError, ScaffolderError
from scaffolder.indexes import uv_environ
from scaffolder.pythons import installed_distributions, site_packages
from scaffolder.tools import find_uv, run

if TYPE_CHECKING:  # pragma: no cover
    from conda_lock.lockfile.v2prelim.models import LockedDependency

_UV_TARGETS = {
    "linux-64": "x86_64",
    "linux-aarch64": "aarch64",
    "osx-64": "x86_64-apple-darwin",
    "osx-arm64": "aarch64-apple-darwin",
    "win-64": "x86_64-pc-windows-msvc",
}
# glibc versions uv has manylinux targets for (beyond 2.17).
_MANYLINUX_MINORS = (17, *range(28, 41))


def uv_binary() -> str:
    found = find_uv()
    if found is None:
        raise EnvError("uv not found", "pip install uv")
    return found


def python_platform(platform: str, glibc: str | None = None) -> str:
    """The ``uv --python-platform`` that matches a conda platform and its assumed glibc."""
    target = _UV_TARGETS.get(platform)
    if target is None:
        raise LockError(f"uv cannot resolve pip packages for {platform}", f"remove {platform} or the pip: section")
    if not platform.startswith("linux-"):
        return target
    minor = 17
    if glibc:
        try:
            wanted = int(glibc.split(".")[1])
            minor = max(m for m in _MANYLINUX_MINORS if m <= wanted)
        except (IndexError, ValueError):
            pass
    return f"{target}-manylinux_2_{minor}"


def lock_pip(
    requirements: Sequence[str],
    *,
    python_version: str,
    platform: str,
    conda_provided: Collection[str] = (),
    index_args: Sequence[str] = (),
    glibc: str | None = None,
) -> list[LockedDependency]:
    """Resolve ``requirements`` for one platform; return conda-lock ``pip`` entries with URL and sha256."""
    from conda_lock.lockfile.v2prelim.models import HashModel, LockedDependency

    with tempfile.TemporaryDirectory(prefix="scaffolder-pip-") as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "requirements.in").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        # What conda provides is not resolved again by pip (nor are its PyPI dependencies).
        (tmpdir / "excludes.txt").write_text("".join(f"{n}\n" for n in sorted(conda_provided)), encoding="utf-8")
        out = tmpdir / "pylock.toml"
        cmd = [
            uv_binary(), "pip", "compile", "--quiet", "--no-config", "--format", "pylock.toml",
            "--python-version", python_version, "--python-platform", python_platform(platform, glibc),
            *index_args, "--excludes", str(tmpdir / "excludes.txt"),
            "-o", str(out), str(tmpdir / "requirements.in"),
        ]  # fmt: skip
        _run_uv(cmd, cwd=tmpdir, what=f"cannot resolve the pip: section for {platform}", error=LockError,
                hint="relax the pip requirements in environment.yml or check the package index")
        data = _read_toml(out)
    entries = []
    for pkg in data.get("packages", []):
        artifact = (pkg.get("wheels") or [pkg.get("sdist")] or [None])[0]
        if not artifact or "url" not in artifact or "sha256" not in artifact.get("hashes", {}):
            raise LockError(f"uv gave no hashed file for pip package {pkg.get('name')} on {platform}",
                            "the package index must serve files with sha256 hashes")
        entries.append(LockedDependency(
            name=pkg["name"], version=pkg["version"], manager="pip", platform=platform, dependencies={},
            url=artifact["url"], hash=HashModel(sha256=artifact["hashes"]["sha256"]), categories={"main"},
        ))  # fmt: skip
    return entries


def _read_toml(path: Path) -> dict:
    return tomlfile.loads(path.read_text(encoding="utf-8"))


def requirement_lines(packages: Sequence[LockedDependency]) -> list[str]:
    """Hash-pinned direct-URL requirement lines, one per locked pip package."""
    return [f"{p.name} @ {p.url} --hash=sha256:{p.hash.sha256}" for p in packages]


def install_pip(python: Path, packages: Sequence[LockedDependency]) -> None:
    """Install exactly ``packages`` into the environment of ``python``; refuse any hash mismatch."""
    if not packages:
        return
    if not Path(python).exists():
        raise EnvError(f"the environment has no Python at {python}, so its pip: section cannot be installed",
                       "add python to the dependencies in environment.yml and run 'scaffolder lock'")
    with tempfile.TemporaryDirectory(prefix="scaffolder-pip-") as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("\n".join(requirement_lines(packages)) + "\n", encoding="utf-8")
        cmd = [uv_binary(), "pip", "install", "--quiet", "--no-config", "--python", str(python), "--no-deps",
               "--require-hashes", "--compile-bytecode", "-r", str(reqs)]
        _run_uv(cmd, what="installing the pip: section failed", error=EnvError,
                hint="if a hash does not match, the lock or the package index was changed; run 'scaffolder lock'")


def _run_uv(cmd: list[str], *, what: str, error: type[ScaffolderError], hint: str, cwd: Path | None = None) -> None:
    """uv with the index variables passed as flags only; its output distilled to one line (tool_errors)."""
    try:
        run(cmd, env=uv_environ(), cwd=cwd, what=what, error=error)
    except ScaffolderError as exc:
        if exc.hint is None:
            raise error(exc.message, hint) from None
        raise


def pip_installed(prefix: Path, conda_files: set[str]) -> dict[str, str]:
    """Distributions in the prefix that no conda package owns: canonical name -> version."""
    prefix = Path(prefix)
    conda_dirs = {f.rsplit("/", 1)[0] for f in conda_files}
    return installed_distributions(site_packages(prefix),
                                   skip=lambda info: info.relative_to(prefix).as_posix() in conda_dirs)


def conda_files(prefix: Path) -> set[str]:
    """Every file the conda packages in ``prefix`` installed (from conda-meta/*.json)."""
    files: set[str] = set()
    for record in Path(prefix, "conda-meta").glob("*.json"):
        try:
            files.update(json.loads(record.read_text(encoding="utf-8")).get("files", []))
        except (OSError, ValueError):
            continue
    return files
