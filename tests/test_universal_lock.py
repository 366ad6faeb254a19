"""One universal lock for the team's platforms, checked against real wheels tagged for each platform.

The index (tests/wheelhouse.py ``build_platform_index``) holds sc-native 1.0 as four different
wheels (manylinux_2_28 x86_64 and aarch64, macOS 11 arm64, win_amd64), each module saying which it
is. Each platform's install is done by uv into a target folder with ``--python-platform`` and
``--require-hashes`` while resolving dependencies: every file it takes must have its hash in the lock.
"""

import hashlib
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from wheelhouse import PLATFORM_TAGS, PY, UV_TARGETS, build_platform_index, make_simple_index, write_project

from scaffolder.cli import cli
from scaffolder.errors import LockError
from scaffolder.locks import lockfile
from scaffolder.locks.locking import DEV_LOCK, MAIN_LOCK, PYLOCK, PYLOCK_DEV, lock_project
from scaffolder.locks.platforms import DEFAULT_PLATFORMS, current_platform
from scaffolder.project import Project
from scaffolder.tools import find_uv

pytest_plugins = ["envfixtures"]


@pytest.fixture
def platform_index(tmp_path, offline, monkeypatch):
    """A private copy of the per-platform index (tests may tamper with it); pip and uv see only it."""
    files, url = build_platform_index(tmp_path / "platform-index")
    monkeypatch.setenv("PIP_INDEX_URL", url)
    return files, url


def _lock(root, **kwargs):
    return lock_project(root, Project.load(root).pyproject, python=PY, torch="cpu", engine="uv", **kwargs)


def _install_for(platform, lock_path, target, url, cache):
    """uv installs the lock for ``platform`` into ``target``, resolving dependencies, hashes required."""
    return subprocess.run(
        [find_uv(), "pip", "install", "--target", str(target), "--python-platform", UV_TARGETS[platform],
         "--python-version", PY, "--require-hashes", "-r", str(lock_path), "--index-url", url,
         "--cache-dir", str(cache), "--quiet", "--no-progress", "--color", "never"],
        capture_output=True, text=True, env={**os.environ, "UV_NO_CONFIG": "1"})


def _sha(path):
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_platform_is_served_entirely_by_the_lock(tmp_path, platform_index):
    files, url = platform_index
    root = write_project(tmp_path / "p", deps=["sc-native<2"], dev=["sc-beta"])
    result = _lock(root)
    assert result.platforms == DEFAULT_PLATFORMS and result.written == [MAIN_LOCK, DEV_LOCK, PYLOCK, PYLOCK_DEV]
    assert result.dev_packages == 0  # sc-beta is in the main lock already
    lock = lockfile.read_verified(root / MAIN_LOCK)
    assert lock.platforms == DEFAULT_PLATFORMS and lock.meta["format"] == "2"
    native = lock.pins["sc-native"]
    assert native.version == "1.0" and native.marker is None
    assert sorted(native.hashes) == sorted(_sha(files / f"sc_native-1.0-py3-none-{tag}.whl")
                                           for tag in PLATFORM_TAGS.values())
    assert [p.marker for p in lock.pins.values() if p.name == "sc-winhelp"] == ["sys_platform == \"win32\""]
    for platform, tag in PLATFORM_TAGS.items():
        target = tmp_path / f"target-{platform}"
        done = _install_for(platform, root / MAIN_LOCK, target, url, tmp_path / "cache")
        assert done.returncode == 0, done.stderr
        assert f"TAG = {('py3-none-' + tag)!r}" in (target / "sc_native" / "__init__.py").read_text()
        assert (target / "sc_winhelp").is_dir() == platform.startswith("windows")
    # A lock that leaves out a needed package is not enough: uv asks for its hash.
    cut = tmp_path / "cut.txt"
    cut.write_text(lockfile.merge_for_install([("lock", lockfile.Lock(
        pins={k: p for k, p in lock.pins.items() if p.name != "sc-beta"}))]))
    refused = _install_for("macos-arm64", cut, tmp_path / "target-cut", url, tmp_path / "cache")
    assert refused.returncode != 0 and "sc-beta" in refused.stderr and "hash" in refused.stderr.lower()


def test_a_tampered_wheel_or_hash_for_another_platform_is_refused(tmp_path, platform_index):
    files, url = platform_index
    root = write_project(tmp_path / "p", deps=["sc-native<2"])
    _lock(root)
    windows = files / "sc_native-1.0-py3-none-win_amd64.whl"
    windows.write_bytes(windows.read_bytes() + b"\0")  # the index serves another file under that name...
    make_simple_index(files, tmp_path / "platform-index" / "index")  # ...with a matching index hash
    refused = _install_for("windows-x86_64", root / MAIN_LOCK, tmp_path / "t-win", url, tmp_path / "c1")
    assert refused.returncode != 0 and "hash" in refused.stderr.lower(), refused.stderr
    assert not (tmp_path / "t-win" / "sc_native").exists()
    fine = _install_for("linux-aarch64", root / MAIN_LOCK, tmp_path / "t-arm", url, tmp_path / "c1")
    assert fine.returncode == 0, fine.stderr
    # Editing the lock's Windows hash to the new file's is caught before anything is installed.
    text = (root / MAIN_LOCK).read_text()
    lock = lockfile.parse(text)
    old = next(h for h in lock.pins["sc-native"].hashes if h not in {_sha(p) for p in files.glob("*.whl")})
    (root / MAIN_LOCK).write_text(text.replace(old, _sha(windows)))
    with pytest.raises(LockError, match="changed after it was generated"):
        lockfile.read_verified(root / MAIN_LOCK)


def test_a_version_without_a_wheel_for_every_platform_is_refused(tmp_path, platform_index):
    root = write_project(tmp_path / "p", deps=["sc-native"])  # 2.0 exists for linux-x86_64 only
    with pytest.raises(LockError, match="sc-native 2.0 has no wheel for linux-aarch64 \\(and 2 more\\)") as info:
        _lock(root)
    assert "--platform" in info.value.format_message() and not (root / MAIN_LOCK).exists()
    result = _lock(root, platforms=["linux-x86_64"])
    assert lockfile.read(root / MAIN_LOCK).versions()["sc-native"] == "2.0" and result.platforms == ("linux-x86_64",)


def sc(*args, ok=0):
    result = CliRunner().invoke(cli, list(args))
    assert ok is None or result.exit_code == ok, result.output
    return result


def test_lock_platform_env_sync_and_check_through_the_cli(tmp_path, platform_index, monkeypatch):
    root = write_project(tmp_path / "p", deps=["sc-native<2"], dev=["sc-beta"])
    monkeypatch.chdir(root)
    here = current_platform()
    others = [p for p in DEFAULT_PLATFORMS if p != here]
    sc("lock", "--platform", ",".join(others))
    assert Project.load(root).recorded["platforms"] == others and Project.load(root).recorded["pylock"] == PYLOCK
    created = sc("env", "create", ok=1)
    error = [line for line in created.output.splitlines() if line.startswith("error:")]
    assert error == [f"error: {MAIN_LOCK} does not cover this machine ({here}); it is locked for "
                     f"{', '.join(others)} (add it: scaffolder lock --platform {','.join([*others, here])})"]
    checked = sc("check", ok=3)
    assert f"does not cover this machine ({here})" in checked.output
    assert "covers" not in checked.output  # the recorded set matches the lock

    sc("lock", "--platform", ",".join([*others, here]))
    data = json.loads(sc("env", "create", "--json").stdout)
    assert data["packages"] == 2
    from scaffolder.envs import get_backend

    env = root / ".venv"
    installed = get_backend("uv").installed(env)
    assert installed == {"sc-native": "1.0", "sc-beta": "2.0"}
    site = get_backend("uv").site_packages(env)
    assert f"py3-none-{PLATFORM_TAGS[here]}" in (site / "sc_native" / "__init__.py").read_text()
    assert sc("check").output.startswith("environment: ok")
    # The team narrows the set: the project records it and check says the lock no longer matches.
    write_project(root, deps=["sc-native<2"], dev=["sc-beta"])
    project = Project.load(root)
    project.record(platforms=[here])
    checked = sc("check", ok=3)
    assert f"{MAIN_LOCK} covers {', '.join([*others, here])}, the project records {here}" in checked.output
    sc("lock")
    assert lockfile.read(root / MAIN_LOCK).platforms == (here,)
    assert lockfile.read(root / DEV_LOCK).platforms == (here,)


def _single_platform_lock(root, pins):
    """The lock scaffolder wrote before universal locks: format 1, no platforms, no markers."""
    from scaffolder.locks.inputs import gather
    from scaffolder.locks.locking import fingerprints

    main_fp, _ = fingerprints(gather(root, Project.load(root).pyproject), PY, "cpu")
    lock = lockfile.Lock(pins={p.name: p for p in pins},
                         meta={"format": "1", "set": "main", "python": PY, "torch": "none", "inputs": main_fp})
    (root / MAIN_LOCK).write_text(lock.render(["requirements.lock: made for one platform"]))


def test_a_single_platform_lock_is_reported_and_converted_keeping_its_pins(tmp_path, platform_index, monkeypatch):
    files, _ = platform_index
    root = write_project(tmp_path / "p", deps=["sc-native<2", "sc-beta"])
    monkeypatch.chdir(root)
    here_tag = PLATFORM_TAGS[current_platform()]
    _single_platform_lock(root, [
        lockfile.Pin("sc-native", "1.0", hashes=(_sha(files / f"sc_native-1.0-py3-none-{here_tag}.whl"),)),
        lockfile.Pin("sc-beta", "1.0", hashes=(_sha(files / "sc_beta-1.0-py3-none-any.whl"),)),  # 2.0 is newer
    ])
    old = (root / MAIN_LOCK).read_bytes()
    checked = sc("check", ok=3)
    assert "requirements.lock is a single-platform lock (format 1" in checked.output
    assert "'scaffolder lock' converts it" in checked.output
    # A conversion that fails leaves the old lock as it was.
    monkeypatch.setenv("PIP_INDEX_URL", "file:///nonexistent/simple")
    sc("lock", ok=1)
    assert (root / MAIN_LOCK).read_bytes() == old
    monkeypatch.setenv("PIP_INDEX_URL", make_simple_index(files, tmp_path / "platform-index" / "index"))
    converted = sc("lock")
    assert "single-platform lock; converting it" in converted.output
    lock = lockfile.read_verified(root / MAIN_LOCK)
    assert lock.platforms == DEFAULT_PLATFORMS
    assert lock.versions() == {"sc-native": "1.0", "sc-beta": "1.0"}  # the old pins are kept
    assert len(lock.pins["sc-native"].hashes) == 4
    assert sc("check", ok=None).output.count("single-platform") == 0


def test_pylock_toml_installs_with_uv_on_every_platform_and_edits_are_refused(tmp_path, platform_index):
    from scaffolder.locks import pylock

    _, url = platform_index
    root = write_project(tmp_path / "p", deps=["sc-native<2"], dev=["sc-beta"])
    _lock(root)
    tool = pylock.read_verified(root / PYLOCK)
    assert tool["platforms"] == ",".join(DEFAULT_PLATFORMS) and tool["set"] == "main"
    assert tool["inputs"] == lockfile.read(root / MAIN_LOCK).meta["inputs"]
    locked = lockfile.read(root / MAIN_LOCK)
    packages = pylock.parse((root / PYLOCK).read_text())
    assert {(p.name, p.version) for p in packages} == {(p.name, p.version) for p in locked.pins.values()}
    assert {"sha256:" + w.sha256 for p in packages for w in p.wheels} == \
        {h for p in locked.pins.values() for h in p.hashes}
    for platform, tag in PLATFORM_TAGS.items():
        target = tmp_path / f"pylock-{platform}"
        done = subprocess.run(
            [find_uv(), "pip", "install", "--target", str(target), "--python-platform", UV_TARGETS[platform],
             "--python-version", PY, "-r", str(root / PYLOCK_DEV), "--cache-dir", str(tmp_path / "cache"),
             "--quiet", "--color", "never", "--preview-features", "pylock"],
            capture_output=True, text=True, env={**os.environ, "UV_NO_CONFIG": "1"})
        assert done.returncode == 0, done.stderr
        assert f"TAG = {('py3-none-' + tag)!r}" in (target / "sc_native" / "__init__.py").read_text()
        assert (target / "sc_winhelp").is_dir() == platform.startswith("windows")
    text = (root / PYLOCK).read_text()
    (root / PYLOCK).write_text(text.replace('version = "1.0"', 'version = "1.1"', 1))
    with pytest.raises(LockError, match="pylock.toml was changed after it was generated"):
        pylock.read_verified(root / PYLOCK)


MIRROR = "/opt/pypi/simple"  # this machine's local mirror, which holds pip 26 (pylock.toml support)


@pytest.mark.skipif(not os.path.isdir(MIRROR + "/pip"), reason="no local pip that reads pylock.toml")
def test_pip_that_reads_pylock_installs_it(tmp_path, platform_index):
    _, url = platform_index
    root = write_project(tmp_path / "p", deps=["sc-native<2"])
    _lock(root)
    venv = tmp_path / "pipvenv"
    subprocess.run([find_uv(), "venv", "-q", "--python", sys.executable, str(venv)], check=True)  # the lock's Python
    got = subprocess.run([find_uv(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "pip>=26",
                          "--index-url", "file://" + MIRROR], capture_output=True, text=True,
                         env={**os.environ, "UV_NO_CONFIG": "1"})
    if got.returncode != 0:
        pytest.skip(f"pip>=26 cannot be installed here: {got.stderr.strip()[-200:]}")
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-r", str(root / PYLOCK)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    site = next((venv / "lib").glob("python3.*/site-packages"))
    here = PLATFORM_TAGS[current_platform()]
    assert f"py3-none-{here}" in (site / "sc_native" / "__init__.py").read_text()
    assert not (site / "sc_winhelp").exists()


@pytest.fixture
def torch_platform_builds(tmp_path, offline, monkeypatch):
    """torch stand-ins as PyTorch publishes them: the plain build on the main index (CPU on macOS, CUDA
    elsewhere), +cpu and +cu126 builds for Linux x86_64 and Windows on their own indexes, served over HTTP."""
    from wheelhouse import serve

    main, cpu, cu126 = tmp_path / "main-files", tmp_path / "cpu-files", tmp_path / "cu126-files"
    make_wheel = __import__("wheelhouse").make_wheel
    make_wheel(main, "sc-beta", "1.0")
    for tag in ("macosx_11_0_arm64", "manylinux_2_28_x86_64", "win_amd64"):
        make_wheel(main, "torch", "2.13.0", ["sc-beta"], tag=f"py3-none-{tag}")
    for tag in ("manylinux_2_28_x86_64", "win_amd64"):
        make_wheel(cpu, "torch", "2.13.0+cpu", ["sc-beta"], tag=f"py3-none-{tag}")
        make_wheel(cu126, "torch", "2.13.0+cu126", ["sc-beta"], tag=f"py3-none-{tag}")
    monkeypatch.setenv("PIP_INDEX_URL", make_simple_index(main, tmp_path / "main"))
    make_simple_index(cpu, tmp_path / "torch" / "cpu", relative=True)
    make_simple_index(cu126, tmp_path / "torch" / "cu126", relative=True)
    with serve(tmp_path / "torch") as base:
        monkeypatch.setenv("SCAFFOLDER_TORCH_INDEX_CPU", f"{base}/cpu/simple")
        monkeypatch.setenv("SCAFFOLDER_TORCH_INDEX_CU126", f"{base}/cu126/simple")
        yield base


def test_one_lock_carries_cpu_and_cuda_torch_and_each_machine_gets_its_build(tmp_path, torch_platform_builds,
                                                                            monkeypatch):
    base = torch_platform_builds
    root = write_project(tmp_path / "p", deps=["torch==2.13.0"])
    monkeypatch.chdir(root)
    here = current_platform()
    sc("lock", "--platform", f"{here},macos-arm64,windows-x86_64", "--torch", "cpu,cu126")
    settings = Project.load(root).recorded
    assert settings["torch"] == "cpu" and settings["torch_variants"] == ["cu126"]
    main = lockfile.read_verified(root / MAIN_LOCK)
    cuda = lockfile.read_verified(root / "requirements.cu126.lock")
    from scaffolder.locks.platforms import marker_environment

    def torch_on(lock, platform):
        return lock.select(marker_environment(platform, PY)).versions().get("torch")

    assert {p: torch_on(main, p) for p in (here, "macos-arm64", "windows-x86_64")} == \
        {here: "2.13.0+cpu", "macos-arm64": "2.13.0", "windows-x86_64": "2.13.0+cpu"}
    assert cuda.platforms == (here, "windows-x86_64") and cuda.meta["torch"] == "cu126"  # no CUDA on macOS
    assert {p: torch_on(cuda, p) for p in cuda.platforms} == {here: "2.13.0+cu126", "windows-x86_64": "2.13.0+cu126"}
    assert cuda.options == [f"--extra-index-url {base}/cu126/simple"] and "file:" not in \
        (root / "requirements.cu126.lock").read_text()
    assert sc("lock", "--check").exit_code == 0

    from scaffolder.envs import get_backend

    uv = get_backend("uv")
    sc("env", "create")  # no NVIDIA driver here: auto picks the CPU build
    assert uv.installed(root / ".venv")["torch"] == "2.13.0+cpu"
    monkeypatch.setenv("SCAFFOLDER_TORCH", "cu126")  # as on a GPU host
    synced = sc("env", "sync")
    assert "torch" in synced.output and uv.installed(root / ".venv")["torch"] == "2.13.0+cu126"
    assert sc("check", ok=None).output.count("differs from the lock") == 0
    monkeypatch.setenv("SCAFFOLDER_TORCH", "cu128")
    refused = sc("env", "sync", ok=1)
    assert [line for line in refused.output.splitlines() if line.startswith("error:")] == [
        "error: the lock has no cu128 build of torch (locked: cpu, cu126) "
        "(add it: scaffolder lock --torch cpu,cu126,cu128)"]


def test_a_local_wheelhouse_build_is_pinned_only_where_it_fits(tmp_path, offline, monkeypatch):
    """A find-links folder with a Linux x86_64 +cpu torch (as on this machine) serves Linux only: macOS
    still resolves its own CPU build from the index, in the same universal lock."""
    from wheelhouse import make_wheel

    main, wheelhouse = tmp_path / "main-files", tmp_path / "wheels"
    make_wheel(main, "sc-beta", "1.0")
    make_wheel(main, "torch", "2.13.0", ["sc-beta"], tag="py3-none-macosx_11_0_arm64")
    make_wheel(main, "torch", "2.13.0", ["sc-beta"], tag="py3-none-manylinux_2_28_x86_64")  # PyPI's CUDA build
    make_wheel(wheelhouse, "torch", "2.13.0+cpu", ["sc-beta"], tag="py3-none-manylinux_2_28_x86_64")
    monkeypatch.setenv("PIP_INDEX_URL", make_simple_index(main, tmp_path / "main"))
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    root = write_project(tmp_path / "p", deps=["torch==2.13.0"])
    _lock(root, platforms=["linux-x86_64", "macos-arm64"])
    from scaffolder.locks.platforms import marker_environment

    lock = lockfile.read_verified(root / MAIN_LOCK)
    got = {p: lock.select(marker_environment(p, PY)).versions()["torch"] for p in ("linux-x86_64", "macos-arm64")}
    assert got == {"linux-x86_64": "2.13.0+cpu", "macos-arm64": "2.13.0"}
    assert str(wheelhouse) not in (root / MAIN_LOCK).read_text()


@pytest.mark.slow
def test_real_pypi_project_locks_for_every_default_platform(tmp_path, monkeypatch, uv_cache):
    """numpy (one wheel per platform) and click from the real PyPI, universally, then each platform's
    resolution checked against the lock's hashes by uv."""
    import urllib.request

    try:
        urllib.request.urlopen("https://pypi.org/simple/click/", timeout=10).close()
    except OSError:
        pytest.skip("PyPI is not reachable")
    for key in [k for k in os.environ if k.startswith(("PIP_", "UV_", "SCAFFOLDER_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("UV_CACHE_DIR", str(uv_cache))
    root = write_project(tmp_path / "p", deps=["numpy>=2,<3", "click>=8"])
    result = _lock(root)
    assert result.platforms == DEFAULT_PLATFORMS
    lock = lockfile.read_verified(root / MAIN_LOCK)
    from scaffolder.locks.platforms import marker_environment

    for platform in DEFAULT_PLATFORMS:
        assert {"numpy", "click"} <= set(lock.select(marker_environment(platform, PY)).versions())
    assert len(lock.pins["numpy"].hashes) >= 4  # one wheel per platform at least
    for platform in DEFAULT_PLATFORMS:
        done = subprocess.run(
            [find_uv(), "pip", "install", "--dry-run", "--target", str(tmp_path / platform), "--python-platform",
             UV_TARGETS[platform], "--python-version", PY, "--require-hashes", "-r", str(root / MAIN_LOCK),
             "--no-config"], capture_output=True, text=True)
        assert done.returncode == 0, (platform, done.stderr)
        assert "numpy" in done.stderr


@pytest.mark.skipif(current_platform() != "linux-x86_64", reason="sc-native 2.0 has a Linux x86_64 wheel only")
def test_the_default_set_drops_platforms_the_indexes_cannot_serve_and_a_chosen_set_does_not(tmp_path,
                                                                                            platform_index,
                                                                                            monkeypatch):
    root = write_project(tmp_path / "p", deps=["sc-native"])  # newest sc-native: Linux x86_64 only
    monkeypatch.chdir(root)
    out = sc("lock").output
    dropped = [p for p in DEFAULT_PLATFORMS if p != "linux-x86_64"]
    for platform in dropped:
        assert f"warning: not locking for {platform}: sc-native 2.0 has no wheel for {platform}" in out
    assert Project.load(root).recorded["platforms"] == ["linux-x86_64"]
    assert lockfile.read(root / MAIN_LOCK).platforms == ("linux-x86_64",)
    assert sc("check", ok=None).output.count("does not cover") == 0
    refused = sc("lock", "--platform", ",".join(DEFAULT_PLATFORMS), ok=1)
    assert "error: the lock would not install everywhere: sc-native 2.0 has no wheel for linux-aarch64" in \
        refused.output
    assert lockfile.read(root / MAIN_LOCK).platforms == ("linux-x86_64",)  # the old lock stays
