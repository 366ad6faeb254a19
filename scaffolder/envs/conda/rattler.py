"""The embedded conda engine: py-rattler solves, links and locks; no conda installation needed.

- Locking solves each platform of environment.yml with that platform's virtual packages from
  virtual-packages.yml (not this machine's), so a lock made here is the lock made anywhere.
  A previous lock's packages are offered to the solver as preferences, so relocking after an
  unrelated edit keeps versions unless ``upgrade`` asks otherwise.
- Linking installs records rebuilt from conda-lock.yml alone (like an @EXPLICIT file); rattler
  reads ``noarch`` and paths from the package archive itself. rattler checks sha256 of what it
  downloads over http(s) but not of local ``file://`` archives, so those are hashed here first.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from scaffolder import __version__
from scaffolder.envs.conda.engine import CondaEngine
from scaffolder.errors import EnvError, LockError, UsageError
from scaffolder.locks.condalock import (
    archive_stem,
    build_string,
    conda_to_pypi,
    content_hashes,
    lock_specification,
    locked_packages,
    match_specs,
    new_lockfile,
    pip_requirements,
    read_lock,
    source_path,
    virtual_packages_for,
    write_lock,
)
from scaffolder.locks.pipsection import lock_pip

if TYPE_CHECKING:  # pragma: no cover
    from conda_lock.lockfile.v2prelim.models import LockedDependency, Lockfile

_CHANNEL_HINT = "check 'channels' in environment.yml and that each channel is reachable"


def one_line(text: str, limit: int = 400) -> str:
    """rattler's multi-line solver trees, flattened for a one-line error."""
    flat = " ".join(re.sub(r"[└├│─]+", " ", str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class RattlerBackend(CondaEngine):
    name = "rattler"

    def __init__(self, cache_dir: Path | None = None) -> None:
        # None: rattler's shared cache (RATTLER_CACHE_DIR, else ~/.cache/rattler), also used by pixi.
        self.cache_dir = cache_dir

    @classmethod
    def available(cls) -> bool:
        return importlib.util.find_spec("rattler") is not None

    # ------------------------------------------------------------ lock

    def lock(
        self,
        env_file: Path,
        lock_file: Path,
        vp_file: Path | None = None,
        *,
        index_args: Sequence[str] = (),
        upgrade: bool | Sequence[str] = False,
    ) -> Lockfile:
        import rattler

        env_file, lock_file = Path(env_file), Path(lock_file)
        spec = lock_specification(env_file)
        hashes = content_hashes(spec, vp_file)
        previous = _previous_lock(lock_file) if upgrade is not True else None
        keep_out = set(upgrade) if not isinstance(upgrade, bool) else set()
        channels = [_channel_url(c.env_replaced_url()) for c in spec.channels]
        packages: list[LockedDependency] = []
        for platform in sorted(spec.platforms):
            virtual = virtual_packages_for(vp_file, platform)
            preferred = [
                repodata_record(dep)
                for dep in (locked_packages(previous, platform, "conda") if previous else [])
                if dep.name not in keep_out
            ]
            records = self._solve(channels, match_specs(spec, platform), platform, virtual, preferred)
            packages += [locked_dependency(r, platform) for r in records]
            requirements = pip_requirements(env_file, platform)
            if requirements:
                packages += self._lock_pip(requirements, records, platform, virtual, index_args)
        lockfile = new_lockfile(
            packages, spec, hashes, sources=[source_path(env_file, lock_file)],
            custom={"locked_by": f"scaffolder {__version__} (py-rattler {rattler.__version__})"},
        )  # fmt: skip
        write_lock(lockfile, lock_file)
        return lockfile

    def _solve(self, channels, specs, platform, virtual, preferred):
        import rattler
        from rattler.exceptions import GatewayError, InvalidMatchSpecError, SolverError

        async def solve():
            gateway = rattler.Gateway(cache_dir=self.cache_dir)
            return await rattler.solve(
                [rattler.Channel(c) for c in channels],
                specs,
                gateway=gateway,
                platforms=[platform, "noarch"],
                virtual_packages=[
                    rattler.GenericVirtualPackage(
                        rattler.PackageName(n), rattler.Version(v), rattler.BuildString(b or "0")
                    )
                    for n, v, b in virtual
                ],
                locked_packages=preferred,
            )

        try:
            return asyncio.run(solve())
        except SolverError as exc:
            raise LockError(
                f"environment.yml cannot be solved for {platform}: {one_line(exc)}",
                "relax or fix the version constraints in environment.yml",
            ) from None
        except GatewayError as exc:
            raise LockError(f"cannot read channel {', '.join(channels)} for {platform}: {one_line(exc)}",
                            _CHANNEL_HINT) from None
        except InvalidMatchSpecError as exc:
            raise UsageError(f"environment.yml: {one_line(exc)}", "fix the package spec") from None

    def _lock_pip(self, requirements, records, platform, virtual, index_args):
        python = next((r for r in records if r.name.normalized == "python"), None)
        if python is None:
            raise LockError(f"environment.yml has a pip: section but no python for {platform}",
                            "add python to the dependencies in environment.yml")
        names = conda_to_pypi()
        provided = {names.get(r.name.normalized, r.name.normalized) for r in records} - {"python"}
        glibc = next((v for n, v, _ in virtual if n == "__glibc"), None)
        return lock_pip(requirements, python_version=str(python.version), platform=platform,
                        conda_provided=provided, index_args=index_args, glibc=glibc)

    # ------------------------------------------------------------ install

    def check_archives(self, packages: Sequence[LockedDependency]) -> None:
        for dep in packages:
            if urlparse(dep.url).scheme == "file":
                verify_local_archive(dep)

    def link(self, prefix: Path, packages: Sequence[LockedDependency], platform: str) -> None:
        import rattler
        from rattler.exceptions import InstallerError, LinkError, TransactionError

        records = [repodata_record(dep) for dep in packages]
        cache = Path(self.cache_dir) / "pkgs" if self.cache_dir else None
        try:
            asyncio.run(rattler.install(records, target_prefix=prefix, cache_dir=cache, show_progress=False,
                                        execute_link_scripts=False))
        except (InstallerError, LinkError, TransactionError) as exc:
            raise EnvError(f"installing conda packages failed: {one_line(exc)}",
                           "check that the channels in conda-lock.yml are reachable") from None


def _channel_url(url: str) -> str:
    return Path(url).as_uri() if os.path.isabs(url) else url


def _previous_lock(lock_file: Path) -> Lockfile | None:
    """The old lock, as solver preferences; an unreadable one is simply not used (relocking replaces it)."""
    if not lock_file.exists():
        return None
    try:
        return read_lock(lock_file)
    except LockError:
        return None


def locked_dependency(record, platform: str) -> LockedDependency:
    """A solved rattler record as a conda-lock entry (dependencies as conda-lock writes them: name -> version spec)."""
    import rattler
    from conda_lock.lockfile.v2prelim.models import HashModel, LockedDependency

    dependencies: dict[str, str] = {}
    for dep in record.depends:
        ms = rattler.MatchSpec(dep)
        name = ms.name.as_package_name().normalized
        version = ms.version or ""
        dependencies[name] = ",".join(x for x in (dependencies.get(name), version) if x)
    return LockedDependency(
        name=record.name.normalized,
        version=str(record.version),
        manager="conda",
        platform=platform,
        dependencies=dependencies,
        url=record.url,
        hash=HashModel(
            md5=record.md5.hex() if record.md5 else "",
            sha256=record.sha256.hex() if record.sha256 else None,
        ),
        categories={"main"},
        build=str(record.build),
    )


def repodata_record(dep: LockedDependency):
    """Rebuild a rattler record from a lock entry alone: what an @EXPLICIT line carries, plus depends."""
    import rattler

    build = build_string(dep)
    tail = build.rsplit("_", 1)[-1]
    base, subdir, file_name = dep.url.rsplit("/", 2)
    record = rattler.PackageRecord(
        name=dep.name,
        version=dep.version,
        build=rattler.BuildString(build),
        build_number=int(tail) if tail.isdigit() else 0,
        subdir=subdir,
        depends=[f"{name} {spec}".strip() for name, spec in dep.dependencies.items()],
        md5=bytes.fromhex(dep.hash.md5) if dep.hash.md5 else None,
        sha256=bytes.fromhex(dep.hash.sha256) if dep.hash.sha256 else None,
    )
    return rattler.RepoDataRecord(record, file_name=file_name, url=dep.url, channel=base + "/")


def verify_local_archive(dep: LockedDependency) -> None:
    path = Path(url2pathname(unquote(urlparse(dep.url).path)))
    if not path.is_file():
        raise EnvError(f"{dep.name} {dep.version}: {path} not found", "the channel changed; run 'scaffolder lock'")
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha256.update(chunk)
            md5.update(chunk)
    if (dep.hash.sha256 and sha256.hexdigest() != dep.hash.sha256) or md5.hexdigest() != dep.hash.md5:
        raise EnvError(
            f"{archive_stem(dep.url)}: {path} does not match the hash in conda-lock.yml",
            "the lock or the channel was changed; if that was intended, run 'scaffolder lock'",
        )
