"""Platform names, their markers and which wheels they install (scaffolder.locks.platforms)."""

import pytest

from scaffolder.errors import UsageError
from scaffolder.locks.platforms import (
    DEFAULT_PLATFORMS,
    current_platform,
    marker_environment,
    marker_holds,
    parse_platforms,
    wheel_fits,
)


@pytest.mark.parametrize("sys_platform, machine, name", [
    ("linux", "x86_64", "linux-x86_64"), ("linux", "aarch64", "linux-aarch64"), ("linux", "arm64", "linux-aarch64"),
    ("darwin", "arm64", "macos-arm64"), ("darwin", "x86_64", "macos-x86_64"), ("win32", "AMD64", "windows-x86_64"),
    ("win32", "ARM64", "windows-arm64"),
])
def test_current_platform_names(sys_platform, machine, name):
    assert current_platform(sys_platform, machine) == name


def test_parse_platforms_accepts_lists_and_commas_and_refuses_unknown_names():
    assert parse_platforms("linux-x86_64, macos-arm64,linux-x86_64") == ("linux-x86_64", "macos-arm64")
    assert parse_platforms(["linux-x86_64,windows-x86_64", "macos-arm64"]) == \
        ("linux-x86_64", "windows-x86_64", "macos-arm64")
    with pytest.raises(UsageError, match="unknown platform 'linux-64'"):
        parse_platforms("linux-64")
    with pytest.raises(UsageError, match="no platform given"):
        parse_platforms(" , ")


@pytest.mark.parametrize("filename, fits", [
    ("numpy-2.3.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", {"linux-x86_64"}),
    ("debugpy-1.8.22-cp311-cp311-manylinux_2_34_x86_64.whl", {"linux-x86_64"}),  # the installer checks glibc
    ("numpy-2.3.0-cp311-cp311-macosx_14_0_arm64.whl", {"macos-arm64"}),
    ("numpy-2.3.0-cp311-cp311-win_amd64.whl", {"windows-x86_64"}),
    ("numpy-2.3.0-cp312-cp312-win_amd64.whl", set()),  # another Python
    ("pydantic_core-2.0-cp38-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", {"linux-aarch64"}),
    ("click-8.1.7-py3-none-any.whl", set(DEFAULT_PLATFORMS)),
    ("six-1.16.0-py2.py3-none-any.whl", set(DEFAULT_PLATFORMS)),
    ("x-1.0-cp311-cp311-musllinux_1_2_x86_64.whl", set()),
    ("not-a-wheel.tar.gz", set()),
])
def test_wheel_fits_the_platforms_that_install_it(filename, fits):
    assert {p for p in DEFAULT_PLATFORMS if wheel_fits(filename, p, "3.11")} == fits


def test_markers_per_platform():
    win = marker_environment("windows-x86_64", "3.11")
    assert marker_holds("sys_platform == 'win32' and platform_machine == 'AMD64'", win)
    assert not marker_holds("sys_platform == 'win32'", marker_environment("macos-arm64", "3.11"))
    assert marker_holds("python_full_version >= '3.11'", win) and not marker_holds("python_version >= '3.12'", win)
    assert marker_holds(None, win)
