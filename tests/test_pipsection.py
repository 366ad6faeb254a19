"""The pip: section helpers: uv targets per conda platform, error lines, hash-pinned requirement lines."""

from __future__ import annotations

from pathlib import Path

import conda_channel as cc
import pytest
from wheelhouse import make_wheel

from scaffolder.errors import EnvError, LockError
from scaffolder.locks import pipsection


@pytest.mark.parametrize(
    ("platform", "glibc", "target"),
    [
        ("linux-64", "2.28", "x86_64-manylinux_2_28"),
        ("linux-64", "2.17", "x86_64-manylinux_2_17"),
        ("linux-64", "2.24", "x86_64-manylinux_2_17"),
        ("linux-aarch64", "2.34", "aarch64-manylinux_2_34"),
        ("linux-64", None, "x86_64-manylinux_2_17"),
        ("osx-arm64", None, "aarch64-apple-darwin"),
        ("win-64", None, "x86_64-pc-windows-msvc"),
    ],
)
def test_python_platform(platform, glibc, target):
    assert pipsection.python_platform(platform, glibc) == target


def test_platform_uv_cannot_target_is_a_lock_error():
    with pytest.raises(LockError, match="linux-ppc64le"):
        pipsection.python_platform("linux-ppc64le")


def test_lock_pip_excludes_what_conda_provides(tmp_path):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "scaf-tiny-a", "1.0", ("torch>=2",))
    entries = pipsection.lock_pip(["scaf-tiny-a"], python_version=cc.PY_FULL, platform="linux-64",
                                  conda_provided={"torch"}, index_args=["--no-index", "--find-links", str(wheels)])
    assert [(e.name, e.version, e.manager, e.platform) for e in entries] == [("scaf-tiny-a", "1.0", "pip", "linux-64")]
    assert pipsection.requirement_lines(entries) == [
        f"scaf-tiny-a @ {(wheels / 'scaf_tiny_a-1.0-py3-none-any.whl').as_uri()} --hash=sha256:{entries[0].hash.sha256}"
    ]
    with pytest.raises(LockError, match="cannot resolve the pip: section for linux-64: .*torch"):
        pipsection.lock_pip(["scaf-tiny-a"], python_version=cc.PY_FULL, platform="linux-64",
                            index_args=["--no-index", "--find-links", str(wheels)])


def test_install_pip_needs_a_python(tmp_path):
    from conda_lock.lockfile.v2prelim.models import HashModel, LockedDependency

    entry = LockedDependency(name="x", version="1", manager="pip", platform="linux-64", url="file:///x.whl",
                             hash=HashModel(sha256="a" * 64), categories={"main"})
    with pytest.raises(EnvError, match="has no Python"):
        pipsection.install_pip(Path(tmp_path / "bin" / "python"), [entry])
    pipsection.install_pip(Path(tmp_path / "bin" / "python"), [])  # nothing to do is not an error


def test_lock_pip_takes_each_platforms_own_wheel(tmp_path):
    """environment.yml's platforms each get the pip wheel built for them, hashed, and only what they need."""
    import hashlib

    from wheelhouse import build_platform_index

    files, url = build_platform_index(tmp_path / "index")
    wanted = {"linux-64": "manylinux_2_28_x86_64", "linux-aarch64": "manylinux_2_28_aarch64",
              "osx-arm64": "macosx_11_0_arm64", "win-64": "win_amd64"}
    for platform, tag in wanted.items():
        entries = {e.name: e for e in pipsection.lock_pip(
            ["sc-native<2"], python_version=cc.PY_FULL, platform=platform, glibc="2.28",
            index_args=["--index-url", url])}
        native = entries["sc-native"]
        assert native.url.endswith(f"sc_native-1.0-py3-none-{tag}.whl"), (platform, native.url)
        wheel = files / f"sc_native-1.0-py3-none-{tag}.whl"
        assert native.hash.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert ("sc-winhelp" in entries) == (platform == "win-64")
