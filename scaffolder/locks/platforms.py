"""The platforms a universal lock is made for, by the names a team writes (``linux-x86_64``,
``macos-arm64``, ...): their environment markers, their uv ``--python-platform`` target and the
wheel tags they install, so that a lock can be checked to hold a file for every one of them.
"""

from __future__ import annotations

import platform as _platform
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from scaffolder.errors import UsageError

MANYLINUX_GLIBC = 28  # uv's --python-platform target for Linux: glibc 2.28
# A manylinux wheel up to this glibc counts as covering its Linux platform: the installer on each
# machine checks the machine's own glibc, the lock only has to hold a Linux wheel for it.
MANYLINUX_GLIBC_MAX = 40
MACOS_MAX = 26


@dataclass(frozen=True)
class Platform:
    name: str
    sys_platform: str
    system: str
    machine: str
    uv_target: str  # uv's --python-platform

    @property
    def os_name(self) -> str:
        return "nt" if self.sys_platform == "win32" else "posix"


PLATFORMS: dict[str, Platform] = {p.name: p for p in (
    Platform("linux-x86_64", "linux", "Linux", "x86_64", f"x86_64-manylinux_2_{MANYLINUX_GLIBC}"),
    Platform("linux-aarch64", "linux", "Linux", "aarch64", f"aarch64-manylinux_2_{MANYLINUX_GLIBC}"),
    Platform("macos-arm64", "darwin", "Darwin", "arm64", "aarch64-apple-darwin"),
    Platform("macos-x86_64", "darwin", "Darwin", "x86_64", "x86_64-apple-darwin"),
    Platform("windows-x86_64", "win32", "Windows", "AMD64", "x86_64-pc-windows-msvc"),
    Platform("windows-arm64", "win32", "Windows", "ARM64", "aarch64-pc-windows-msvc"),
)}
DEFAULT_PLATFORMS = ("linux-x86_64", "linux-aarch64", "macos-arm64", "windows-x86_64")
_MACHINES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "aarch64"}


def current_platform(sys_platform: str = sys.platform, machine: str | None = None) -> str:
    """This machine's platform name (``linux-x86_64``); one outside the known ones still gets a name."""
    machine = _MACHINES.get((machine or _platform.machine()).lower(), (machine or _platform.machine()).lower())
    if sys_platform.startswith("linux"):
        return f"linux-{'aarch64' if machine == 'arm64' else machine}"
    if sys_platform == "darwin":
        return f"macos-{'arm64' if machine == 'aarch64' else machine}"
    if sys_platform == "win32":
        return f"windows-{'arm64' if machine == 'aarch64' else machine}"
    return f"{sys_platform}-{machine}"


def parse_platforms(values: Iterable[str] | str) -> tuple[str, ...]:
    """Validated platform names, comma- or space-separated, in the order given, without repeats."""
    items = values.replace(",", " ").split() if isinstance(values, str) else \
        [part for value in values for part in str(value).replace(",", " ").split()]
    names = tuple(dict.fromkeys(item.strip().lower() for item in items if item.strip()))
    unknown = [n for n in names if n not in PLATFORMS]
    if unknown:
        raise UsageError(f"unknown platform {', '.join(map(repr, unknown))}",
                         f"use any of: {', '.join(PLATFORMS)}")
    if not names:
        raise UsageError("no platform given", f"use any of: {', '.join(PLATFORMS)}")
    return names


def marker_environment(name: str, python: str) -> dict[str, str]:
    """PEP 508 marker values of a CPython ``python`` (3.X or 3.X.Y) on platform ``name``."""
    plat = PLATFORMS[name]
    full = python if python.count(".") >= 2 else python + ".0"
    return {
        "implementation_name": "cpython", "implementation_version": full, "os_name": plat.os_name,
        "platform_machine": plat.machine, "platform_python_implementation": "CPython", "platform_release": "",
        "platform_system": plat.system, "platform_version": "", "python_full_version": full,
        "python_version": ".".join(python.split(".")[:2]), "sys_platform": plat.sys_platform,
    }


def local_marker_environment(python: str) -> dict[str, str]:
    """Marker values of this machine for an interpreter of version ``python`` (an env's, not ours)."""
    from packaging.markers import default_environment

    env = dict(default_environment())
    full = python if python.count(".") >= 2 else python + ".0"
    env.update(python_version=".".join(python.split(".")[:2]), python_full_version=full, implementation_version=full)
    return env


def marker_holds(marker: str | None, environment: dict[str, str]) -> bool:
    if not marker:
        return True
    from packaging.markers import Marker

    return Marker(marker).evaluate(dict(environment, extra=""))


def platform_tags(name: str) -> frozenset[str]:
    """The wheel platform tags that platform ``name`` installs (``any`` included)."""
    from packaging import tags

    plat = PLATFORMS[name]
    found = {"any"}
    if plat.system == "Linux":
        arch = plat.machine
        for minor in range(MANYLINUX_GLIBC_MAX, 4, -1):
            found.add(f"manylinux_2_{minor}_{arch}")
        legacy = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}
        found.update(f"{tag}_{arch}" for tag, minor in legacy.items() if arch == "x86_64" or tag == "manylinux2014")
    elif plat.system == "Darwin":
        arch = "arm64" if plat.machine == "arm64" else "x86_64"
        # Any macOS release up to this one counts, as glibc does for Linux: each Mac checks its own.
        found.update(tags.mac_platforms((MACOS_MAX, 0), arch))
    else:
        found.add("win_amd64" if plat.machine == "AMD64" else "win_arm64")
    return frozenset(found)


def wheel_fits(filename: str, name: str, python: str) -> bool:
    """Whether the wheel ``filename`` installs on platform ``name`` under CPython ``python`` (3.X)."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        _, _, _, wheel_tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    major, minor = (int(p) for p in python.split(".")[:2])
    interpreters = {"py3", f"py{major}{minor}", f"cp{major}{minor}"} | {f"cp3{m}" for m in range(2, minor + 1)} \
        | {f"py3{m}" for m in range(0, minor + 1)}
    abis = {"none", f"cp{major}{minor}", "abi3"}
    platforms = platform_tags(name)
    for tag in wheel_tags:
        if tag.platform not in platforms or tag.interpreter not in interpreters or tag.abi not in abis:
            continue
        if tag.abi == "abi3" and not tag.interpreter.startswith("cp"):
            continue
        if tag.abi == f"cp{major}{minor}" and tag.interpreter != f"cp{major}{minor}":
            continue
        return True
    return False
