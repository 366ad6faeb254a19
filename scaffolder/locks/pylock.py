"""PEP 751 ``pylock.toml``: read uv's universal resolution, check it covers every platform, turn it
into requirements.lock pins, and write the project's own ``pylock.toml``.

uv writes a pylock.toml with each package's marker and every file of the chosen version (wheel
name, URL, sha256). The file names say which platform installs which wheel, so a lock can be
checked to hold a file for each platform the team works on before it is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

from scaffolder import tomlfile
from scaffolder.errors import LockError
from scaffolder.locks.lockfile import Lock, Pin, canonical_name
from scaffolder.locks.platforms import marker_environment, marker_holds, wheel_fits

PYLOCK = "pylock.toml"
_HINT = "run 'scaffolder lock' to write it again"


@dataclass(frozen=True)
class File:
    filename: str
    url: str | None
    sha256: str


@dataclass
class Package:
    name: str
    version: str | None
    marker: str | None = None
    wheels: list[File] = field(default_factory=list)
    sdist: File | None = None
    index: str | None = None


def parse(text: str, source: str = "uv output") -> list[Package]:
    try:
        data = tomlfile.loads(text)
    except ValueError as exc:
        raise LockError(f"{source} is not a valid pylock.toml: {exc}", _HINT) from None
    packages = []
    for item in data.get("packages", []):
        wheels = [_file(w, source) for w in item.get("wheels", [])]
        sdist = _file(item["sdist"], source) if "sdist" in item else None
        packages.append(Package(canonical_name(item["name"]), item.get("version"), item.get("marker"), wheels,
                                sdist, item.get("index")))
    return packages


def _file(entry: dict, source: str) -> File:
    url = entry.get("url") or entry.get("path")
    name = entry.get("name") or (PurePosixPath(unquote(urlparse(url).path)).name if url else None)
    digest = (entry.get("hashes") or {}).get("sha256")
    if not name or not digest:
        raise LockError(f"{source}: a file entry has no name or sha256", _HINT)
    return File(name, entry.get("url"), digest.lower())


def selected(packages: Iterable[Package], platform: str, python: str) -> list[Package]:
    env = marker_environment(platform, python)
    return [p for p in packages if marker_holds(p.marker, env)]


def coverage_problems(packages: Sequence[Package], platforms: Sequence[str], python: str) -> list[str]:
    """'PKG VERSION has no file for PLATFORM' for each package a platform selects but cannot install."""
    problems = []
    for platform in platforms:
        for package in selected(packages, platform, python):
            if package.sdist is None and not any(wheel_fits(w.filename, platform, python) for w in package.wheels):
                problems.append(f"{package.name} {package.version} has no wheel for {platform}")
    return problems


def to_lock(packages: Sequence[Package], platforms: Sequence[str], python: str) -> Lock:
    """requirements.lock pins: each package under its marker, with the hash of every wheel one of
    ``platforms`` installs (plus the sdist where some platform has no wheel)."""
    lock = Lock()
    for package in packages:
        wheels = [w for w in package.wheels if any(wheel_fits(w.filename, p, python) for p in platforms)]
        users = [p for p in platforms if marker_holds(package.marker, marker_environment(p, python))]
        needs_sdist = any(not any(wheel_fits(w.filename, p, python) for w in wheels) for p in users)
        files = wheels + ([package.sdist] if package.sdist and (needs_sdist or not wheels) else [])
        if not users:
            continue  # only platforms outside the set install it
        # A marker that holds on every platform of the set (python_full_version >= '3.11' for a 3.11
        # lock) says nothing there; it is dropped so the lock reads as what each machine gets.
        marker = None if len(users) == len(platforms) else package.marker
        pin = Pin(package.name, package.version, None, tuple(f"sha256:{f.sha256}" for f in files), (), marker)
        lock.pins[pin.key] = pin
    return lock


def preferences(pins: Iterable[Pin]) -> str:
    """A minimal pylock.toml that uv reads as preferred versions (its existing output file)."""
    lines = ['lock-version = "1.0"', 'created-by = "scaffolder"']
    for pin in pins:
        if not pin.version:
            continue
        lines += ["", "[[packages]]", f"name = {json.dumps(pin.name)}", f"version = {json.dumps(pin.version)}"]
        if pin.marker:
            lines.append(f"marker = {json.dumps(pin.marker)}")
    return "\n".join(lines) + "\n"


def dev_name() -> str:
    return "pylock.dev.toml"


def _toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _file_table(f: File) -> str:
    where = f"url = {_toml_str(f.url)}, " if f.url else ""
    return f"{{ name = {_toml_str(f.filename)}, {where}hashes = {{ sha256 = {_toml_str(f.sha256)} }} }}"


def render(packages: Sequence[Package], pins: Iterable[Pin], platforms: Sequence[str], python: str,
           meta: dict[str, str]) -> str:
    """A PEP 751 pylock.toml of ``packages`` limited to what ``pins`` (the requirements.lock pins)
    hold: the same versions, markers and files. ``meta`` (set, python, torch, inputs) goes into
    ``[tool.scaffolder]`` with a ``content`` checksum of everything above it."""
    wanted = {(p.name, p.version): p for p in pins}
    envs = []
    for platform in platforms:
        env = marker_environment(platform, python)
        envs.append(f"sys_platform == '{env['sys_platform']}' and platform_machine == '{env['platform_machine']}'")
    lines = ['lock-version = "1.0"', 'created-by = "scaffolder"',
             f"requires-python = {_toml_str('==' + python + '.*')}",
             "environments = [" + ", ".join(_toml_str(e) for e in envs) + "]"]
    done = set()
    for package in packages:
        pin = wanted.get((package.name, package.version))
        if pin is None or (package.name, package.version, pin.marker) in done:
            continue  # not locked, or already listed (the dev resolution repeats main's packages)
        done.add((package.name, package.version, pin.marker))
        hashes = {h.split(":", 1)[1] for h in pin.hashes}
        lines += ["", "[[packages]]", f"name = {_toml_str(package.name)}", f"version = {_toml_str(package.version)}"]
        if pin.marker:
            lines.append(f"marker = {_toml_str(pin.marker)}")
        if package.sdist is not None and package.sdist.sha256 in hashes:
            lines.append(f"sdist = {_file_table(package.sdist)}")
        wheels = [w for w in package.wheels if w.sha256 in hashes]
        if wheels:
            lines.append("wheels = [")
            lines += [f"    {_file_table(w)}," for w in wheels]
            lines.append("]")
    body = "\n".join(lines) + "\n"
    import hashlib

    tool = dict(meta, platforms=",".join(platforms), content="sha256:" + hashlib.sha256(body.encode()).hexdigest())
    return body + "\n[tool.scaffolder]\n" + "".join(f"{k} = {_toml_str(v)}\n" for k, v in tool.items())


def read_verified(path) -> dict[str, str]:  # noqa: ANN001 - a Path
    """The ``[tool.scaffolder]`` table of a pylock.toml scaffolder wrote, after checking ``content``."""
    import hashlib
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockError(f"{path.name} does not exist", "run 'scaffolder lock' to create it") from None
    body, sep, _ = text.partition("\n[tool.scaffolder]\n")
    try:
        tool = tomlfile.loads(text).get("tool", {}).get("scaffolder", {})
    except ValueError as exc:
        raise LockError(f"{path.name} is not valid TOML: {exc}", _HINT) from None
    if not sep or "content" not in tool:
        raise LockError(f"{path.name} has no scaffolder content checksum", _HINT)
    if "sha256:" + hashlib.sha256(body.encode()).hexdigest() != tool["content"]:
        raise LockError(f"{path.name} was changed after it was generated (a version, URL or hash differs)", _HINT)
    return tool
