"""The embedded engine, for real: a local channel of hand-built .tar.bz2 and .conda packages,
indexed, solved, locked and linked by py-rattler; the pip: section resolved and installed by uv."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import conda_channel as cc
import pytest
from wheelhouse import make_wheel

from scaffolder.envs.conda.rattler import RattlerBackend
from scaffolder.errors import EnvError, LockError
from scaffolder.locks import condalock

pytestmark = pytest.mark.skipif(not RattlerBackend.available(), reason="py-rattler is not installed")
HERE = condalock.current_platform()


@pytest.fixture(autouse=True)
def _rattler_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RATTLER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rattler-cache"))


def project(root: Path, channel: Path, deps, *, pip=(), variant=None, platforms=(HERE,)):
    """environment.yml and virtual-packages.yml in ``root``; returns (env_file, lock_file, vp_file)."""
    root.mkdir(parents=True, exist_ok=True)
    conda = [d if isinstance(d, condalock.CondaDependency) else condalock.CondaDependency(d) for d in deps]
    (root / "environment.yml").write_text(
        condalock.render_environment("demo", [channel.as_uri()], conda, pip, platforms)
    )
    (root / "virtual-packages.yml").write_text(condalock.render_virtual_packages(variant, platforms))
    return root / "environment.yml", root / "conda-lock.yml", root / "virtual-packages.yml"


def by_name(lockfile, platform, manager="conda"):
    return {p.name: p for p in condalock.locked_packages(lockfile, platform, manager)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_lock_honours_constraints_across_both_archive_formats(tmp_path, channel):
    env, lock, vp = project(tmp_path, channel, ["tool"], platforms=("linux-64", "osx-arm64"))
    lockfile = RattlerBackend().lock(env, lock, vp)
    for platform in ("linux-64", "osx-arm64"):
        got = by_name(lockfile, platform)
        assert sorted(got) == ["liba", "libb", "tool"]
        assert got["liba"].version == "1.0"  # libb needs liba <2, although liba 2.0 is newer
        assert got["liba"].url.endswith("/noarch/liba-1.0-0.tar.bz2")
        assert got["libb"].url.endswith("/noarch/libb-1.0-0.conda")
        assert got["libb"].dependencies == {"liba": ">=1,<2"}
        assert got["liba"].hash.sha256 == sha256(channel / "noarch" / "liba-1.0-0.tar.bz2")
    spec = condalock.lock_specification(env)
    assert lockfile.metadata.content_hash == condalock.content_hashes(spec, vp)
    assert condalock.stale_platforms(condalock.read_lock(lock), env, vp) == []


def test_sync_links_a_working_environment_and_then_leaves_it_alone(tmp_path, channel):
    env, lock, vp = project(tmp_path, channel, ["tool"])
    engine = RattlerBackend()
    engine.lock(env, lock, vp)
    prefix = tmp_path / ".conda"
    assert engine.sync(prefix, lock) == [f"no conda environment at {prefix}"]
    out = subprocess.run([str(prefix / "bin" / "tool")], capture_output=True, text=True, check=True)
    assert out.stdout == "tool 0.1\n"
    assert engine.installed(prefix) == {"liba": "1.0", "libb": "1.0", "tool": "0.1"}
    assert engine.drift(prefix, condalock.read_lock(lock)) == []
    before, inode = cc.snapshot(prefix), prefix.stat().st_ino
    assert engine.sync(prefix, lock) == []
    assert cc.snapshot(prefix) == before and prefix.stat().st_ino == inode  # not rebuilt


def test_sync_after_relock_replaces_changed_packages_and_removes_extras(tmp_path, channel):
    env, lock, vp = project(tmp_path, channel, ["tool"])
    engine = RattlerBackend()
    engine.lock(env, lock, vp)
    prefix = tmp_path / ".conda"
    engine.sync(prefix, lock)
    project(tmp_path, channel, ["liba >=2"])
    engine.lock(env, lock, vp)
    changes = engine.sync(prefix, lock)
    assert "liba: locked 2.0-0, installed 1.0-0" in changes
    assert "tool 0.1-0 is installed but not locked" in changes
    assert engine.installed(prefix) == {"liba": "2.0"}
    assert not (prefix / "bin" / "tool").exists()
    assert not list(tmp_path.glob(".conda.scaffolder-old-*"))


def test_relock_keeps_locked_versions_unless_asked_to_upgrade(tmp_path):
    channel = tmp_path / "channel"
    cc.conda_package(channel, "liba", "1.0")
    cc.index(channel)
    env, lock, vp = project(tmp_path / "p", channel, ["liba"])
    engine = RattlerBackend()
    assert by_name(engine.lock(env, lock, vp), HERE)["liba"].version == "1.0"
    cc.conda_package(channel, "liba", "2.0", fmt="conda")
    cc.index(channel)
    project(tmp_path / "p", channel, ["liba >=0.5"])  # an unrelated edit: hash changes
    assert by_name(engine.lock(env, lock, vp), HERE)["liba"].version == "1.0"
    assert by_name(engine.lock(env, lock, vp, upgrade=["liba"]), HERE)["liba"].version == "2.0"
    engine.lock(env, lock, vp, upgrade=["nothing-else"])
    assert by_name(condalock.read_lock(lock), HERE)["liba"].version == "2.0"


@pytest.mark.parametrize(
    ("variant", "linux", "win"), [("cu126", "cuda126_2", "cuda126_2"), ("cu118", "cuda118_1", None)]
)
def test_gpu_variant_locks_cuda_builds_only_where_cuda_exists(tmp_path, channel, variant, linux, win):
    platforms = ("linux-64", "osx-arm64") + (("win-64",) if win else ())
    deps = condalock.torch_dependencies("2.5.*", variant)
    env, lock, vp = project(tmp_path, channel, deps, variant=variant, platforms=platforms)
    lockfile = RattlerBackend().lock(env, lock, vp)
    assert by_name(lockfile, "linux-64")["pytorch"].build == linux
    assert by_name(lockfile, "osx-arm64")["pytorch"].build == "cpu_0"
    if win:
        assert by_name(lockfile, "win-64")["pytorch"].build == win
    assert not [p.name for p in condalock.read_lock(lock).package if p.name.startswith("__")]  # never locked


def test_cpu_variant_pins_a_cpu_build_where_cuda_would_win(tmp_path, channel):
    # With __cuda declared and no pin, the higher-ranked CUDA build wins (conda-lock #426) ...
    env, lock, vp = project(tmp_path, channel, ["pytorch"], variant="cu126")
    assert by_name(RattlerBackend().lock(env, lock, vp), HERE)["pytorch"].build == "cuda126_2"
    # ... the cpu variant pins a CPU build, and declares no CUDA at all.
    env, lock, vp = project(tmp_path, channel, condalock.torch_dependencies("", "cpu"), variant="cpu")
    assert by_name(RattlerBackend().lock(env, lock, vp), HERE)["pytorch"].build == "cpu_0"
    assert "__cuda" not in [name for name, _, _ in condalock.virtual_packages_for(vp, HERE)]


def test_noarch_python_package_lands_in_site_packages(tmp_path, channel):
    env, lock, vp = project(tmp_path, channel, [f"python {cc.PY}.*", "purepy"])
    engine = RattlerBackend()
    engine.lock(env, lock, vp)
    prefix = tmp_path / ".conda"
    engine.sync(prefix, lock)
    out = subprocess.run([str(engine.python(prefix)), "-c", "import purepy, sys; print(purepy.WHERE, sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["conda", str(prefix)]


@pytest.fixture
def wheels(tmp_path) -> Path:
    directory = tmp_path / "wheels"
    make_wheel(directory, "scaf-tiny-a", "1.0", ("scaf-tiny-b>=1", "purepy"))
    make_wheel(directory, "scaf-tiny-b", "1.2")
    make_wheel(directory, "purepy", "9.9")  # conda provides purepy: pip must not bring this one
    return directory


def test_pip_section_is_locked_with_hashes_and_installed_after_conda(tmp_path, channel, wheels):
    env, lock, vp = project(tmp_path, channel, [f"python {cc.PY}.*", "purepy"], pip=["scaf-tiny-a"],
                            platforms=("linux-64", "osx-arm64"))
    engine = RattlerBackend()
    lockfile = engine.lock(env, lock, vp, index_args=["--no-index", "--find-links", str(wheels)])
    for platform in ("linux-64", "osx-arm64"):
        pip = by_name(lockfile, platform, "pip")
        assert sorted(pip) == ["scaf-tiny-a", "scaf-tiny-b"]
        assert pip["scaf-tiny-a"].hash.sha256 == sha256(wheels / "scaf_tiny_a-1.0-py3-none-any.whl")
        assert "pip" in by_name(lockfile, platform)  # conda-lock's rule: a pip: section brings pip
    prefix = tmp_path / ".conda"
    engine.sync(prefix, lock)
    code = "import purepy, scaf_tiny_a, scaf_tiny_b; print(purepy.WHERE, scaf_tiny_a.__file__)"
    out = subprocess.run([str(engine.python(prefix)), "-c", code], capture_output=True, text=True, check=True)
    where, path = out.stdout.split()
    assert where == "conda" and path.startswith(str(prefix))
    assert engine.installed(prefix)["scaf-tiny-a"] == "1.0"
    assert engine.drift(prefix, condalock.read_lock(lock)) == []
    # A stray pip install is drift, and sync removes it.
    make_wheel(tmp_path / "stray", "stray-pkg", "0.1")
    from scaffolder.tools import find_uv

    subprocess.run([find_uv(), "pip", "install", "-q", "--python", str(engine.python(prefix)), "--no-index",
                    "--find-links", str(tmp_path / "stray"), "stray-pkg"], check=True)
    assert engine.sync(prefix, lock) == ["pip package stray-pkg 0.1 is installed but not locked"]
    assert "stray-pkg" not in engine.installed(prefix)


def test_pip_section_without_python_is_a_lock_error(tmp_path, channel, wheels):
    env, lock, vp = project(tmp_path, channel, ["tool"], pip=["scaf-tiny-b"])
    with pytest.raises(LockError, match="pip: section but no python"):
        RattlerBackend().lock(env, lock, vp, index_args=["--no-index", "--find-links", str(wheels)])
    assert not lock.exists()


# ------------------------------------------------------------ failures lose nothing


def test_unsatisfiable_spec_keeps_the_old_lock_byte_for_byte(tmp_path, channel):
    env, lock, vp = project(tmp_path, channel, ["tool"])
    RattlerBackend().lock(env, lock, vp)
    before = lock.read_bytes()
    project(tmp_path, channel, ["libb", "liba >=2"])
    with pytest.raises(LockError, match="cannot be solved for") as info:
        RattlerBackend().lock(env, lock, vp)
    assert "liba >=1,<2" in info.value.format_message() and "\n" not in info.value.format_message()
    assert lock.read_bytes() == before


def test_missing_channel_is_a_lock_error_and_keeps_the_lock(tmp_path, channel):
    env, lock, vp = project(tmp_path, channel, ["tool"])
    RattlerBackend().lock(env, lock, vp)
    before = lock.read_bytes()
    project(tmp_path, tmp_path / "no-such-channel", ["tool"])
    with pytest.raises(LockError, match="cannot read channel") as info:
        RattlerBackend().lock(env, lock, vp)
    assert "channels" in info.value.hint
    assert lock.read_bytes() == before


def test_broken_environment_yml_writes_no_lock(tmp_path, channel):
    env, lock, vp = project(tmp_path, channel, ["tool"])
    env.write_text(env.read_text().replace("dependencies:", "dependencies: [oops"))
    with pytest.raises(Exception, match="not valid YAML"):
        RattlerBackend().lock(env, lock, vp)
    assert not lock.exists()


@pytest.fixture
def own_channel(tmp_path, channel) -> Path:
    copy = tmp_path / "channel"
    shutil.copytree(channel, copy)
    return cc.index(copy)


def test_tampered_archive_is_refused_before_the_environment_is_touched(tmp_path, own_channel):
    env, lock, vp = project(tmp_path, own_channel, ["tool"])
    engine = RattlerBackend()
    engine.lock(env, lock, vp)
    prefix = tmp_path / ".conda"
    engine.sync(prefix, lock)
    before = cc.snapshot(prefix)
    project(tmp_path, own_channel, ["liba >=2"])
    engine.lock(env, lock, vp)
    archive = own_channel / "noarch" / "liba-2.0-0.conda"
    archive.write_bytes(archive.read_bytes() + b"tampered")
    with pytest.raises(EnvError, match="does not match the hash in conda-lock.yml"):
        engine.sync(prefix, lock)
    assert cc.snapshot(prefix) == before


def test_tampered_lock_hash_is_refused(tmp_path, own_channel):
    env, lock, vp = project(tmp_path, own_channel, ["liba"])
    lockfile = RattlerBackend().lock(env, lock, vp)
    real = by_name(lockfile, HERE)["liba"].hash.sha256
    lock.write_text(lock.read_text().replace(real, "f" * 64))
    with pytest.raises(EnvError, match="does not match the hash"):
        RattlerBackend().sync(tmp_path / ".conda", lock)
    assert not (tmp_path / ".conda").exists()


def test_failure_after_linking_restores_the_previous_environment(tmp_path, own_channel, wheels):
    engine = RattlerBackend()
    env, lock, vp = project(tmp_path, own_channel, ["tool"])
    engine.lock(env, lock, vp)
    prefix = tmp_path / ".conda"
    engine.sync(prefix, lock)
    before = cc.snapshot(prefix)
    project(tmp_path, own_channel, [f"python {cc.PY}.*"], pip=["scaf-tiny-b"])
    engine.lock(env, lock, vp, index_args=["--no-index", "--find-links", str(wheels)])
    make_wheel(wheels, "scaf-tiny-b", "1.2", ("something-else",))  # same file name, different bytes
    with pytest.raises(EnvError, match="pip: section failed.*[Hh]ash"):
        engine.sync(prefix, lock)
    assert cc.snapshot(prefix) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".conda")) == [".conda"]


# ------------------------------------------------------------ conda-lock reads what we write


def test_conda_lock_renders_our_lock_into_an_installable_explicit_file(tmp_path, channel):
    """``conda-lock install`` = render an @EXPLICIT file, then ``<conda> create --file`` it. Here conda-lock
    renders it (its own CLI), and the file is installed the way conda would: fetch each URL, check its md5."""
    import rattler
    from rattler.explicit_environment import ExplicitEnvironmentSpec

    env, lock, vp = project(tmp_path, channel, [f"python {cc.PY}.*", "tool", "purepy"])
    engine = RattlerBackend()
    engine.lock(env, lock, vp)
    engine.sync(tmp_path / "ours", lock)
    out = tmp_path / "rendered"
    out.mkdir()
    subprocess.run([sys.executable, "-m", "conda_lock", "render", "--kind", "explicit", "--platform", HERE,
                    str(lock)], cwd=out, check=True, capture_output=True)
    spec = ExplicitEnvironmentSpec.from_path(out / f"conda-{HERE}.lock")
    records = []
    for entry in spec.packages:
        url, md5 = entry.url.split("#")
        path = Path(url.removeprefix("file://"))
        assert hashlib.md5(path.read_bytes()).hexdigest() == md5
        records.append(asyncio.run(rattler.RepoDataRecord.from_package_archive(path)))
    asyncio.run(rattler.install(records, target_prefix=tmp_path / "theirs", show_progress=False))
    assert engine.installed(tmp_path / "theirs") == engine.installed(tmp_path / "ours")
    assert os.readlink(tmp_path / "theirs" / "bin" / "python") == os.readlink(tmp_path / "ours" / "bin" / "python")


def test_sync_refuses_to_replace_a_directory_that_is_not_an_env(tmp_path, channel):
    env, lock, vp = project(tmp_path, channel, ["liba"])
    RattlerBackend().lock(env, lock, vp)
    precious = tmp_path / ".conda" / "notes.txt"
    precious.parent.mkdir()
    precious.write_text("mine")
    with pytest.raises(EnvError, match="is not a conda environment"):
        RattlerBackend().sync(tmp_path / ".conda", lock)
    assert precious.read_text() == "mine"
