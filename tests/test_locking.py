"""Real resolutions with both engines (uv pip compile, pip-compile) against a local index built here."""

import sys

import pytest
from wheelhouse import PY, make_simple_index, make_wheel, serve, write_project

from scaffolder.envs import get_backend
from scaffolder.envs.venv.manager import install_locked
from scaffolder.errors import LockError
from scaffolder.locks import lockfile
from scaffolder.locks.inputs import gather
from scaffolder.locks.locking import DEV_LOCK, MAIN_LOCK, PYLOCK, PYLOCK_DEV, fingerprints, lock_project, lock_state
from scaffolder.locks.platforms import current_platform
from scaffolder.project import Project

pytest_plugins = ["envfixtures"]
HERE = (current_platform(),)


def _lock(root, engine="uv", **kwargs):
    """uv locks universally (the default four platforms); pip-compile only for this machine."""
    kwargs.setdefault("platforms", HERE if engine == "pip" else None)
    return lock_project(root, Project.load(root).pyproject, python=PY, torch="cpu", engine=engine, **kwargs)


def _states(root, platforms=None):
    main_fp, dev_fp = fingerprints(gather(root, Project.load(root).pyproject), PY, "cpu", platforms)
    return lock_state(root / MAIN_LOCK, main_fp)[0], lock_state(root / DEV_LOCK, dev_fp)[0]


def _pins(text):
    return {k: (p.version, p.hashes) for k, p in lockfile.parse(text).pins.items()}


def test_both_engines_write_the_same_pins_for_this_machine(tmp_path, offline):
    texts = {}
    for engine in ("uv", "pip"):
        root = write_project(tmp_path / engine, deps=["sc-alpha"], extras={"more": ["sc-gamma"]},
                             dev=["sc-devtool"])
        result = _lock(root, engine, extras=["more"], platforms=HERE)
        pylocks = [PYLOCK, PYLOCK_DEV] if engine == "uv" else []  # pip-compile's output has no file names
        assert result.written == [MAIN_LOCK, DEV_LOCK, *pylocks] and result.platforms == HERE
        texts[engine] = ((root / MAIN_LOCK).read_text(), (root / DEV_LOCK).read_text())
    assert [_pins(t) for t in texts["uv"]] == [_pins(t) for t in texts["pip"]]
    main, dev = (lockfile.parse(t) for t in texts["uv"])
    # sc-gamma needs sc-beta<2, so sc-alpha must drop to 1.0.
    assert main.versions() == {"sc-alpha": "1.0", "sc-beta": "1.0", "sc-gamma": "1.0"}
    assert dev.versions() == {"sc-devtool": "1.0"}  # sc-beta comes from the main lock, at its pin
    assert lockfile.parse(texts["pip"][0]).pins["sc-alpha"].via == ("pyproject.toml",)
    assert main.content_ok and main.meta["set"] == "main" and main.meta["python"] == PY
    assert main.meta["format"] == "2" and main.platforms == HERE
    header = texts["uv"][0].splitlines()[:4]
    assert header[0].startswith("# requirements.lock:") and "scaffolder lock" in header[2]
    assert "--find-links" not in texts["uv"][0] and "file://" not in texts["uv"][0]


def test_dev_lock_is_constrained_by_main(tmp_path, offline):
    root = write_project(tmp_path, deps=["sc-gamma"], dev=["sc-alpha"])  # sc-alpha 2.0 would need sc-beta>=2
    _lock(root)
    assert lockfile.read(root / MAIN_LOCK).versions()["sc-beta"] == "1.0"
    assert lockfile.read(root / DEV_LOCK).versions() == {"sc-alpha": "1.0"}


def test_relock_keeps_pins_until_asked_to_upgrade(tmp_path, offline, monkeypatch):
    files = tmp_path / "files"
    make_wheel(files, "sc-solo", "1.0")
    monkeypatch.setenv("PIP_INDEX_URL", make_simple_index(files, tmp_path / "idx"))
    roots = {engine: write_project(tmp_path / engine, deps=["sc-solo"]) for engine in ("uv", "pip")}
    for engine, root in roots.items():
        _lock(root, engine)
    make_wheel(files, "sc-solo", "2.0")
    make_simple_index(files, tmp_path / "idx")
    for engine, root in roots.items():
        assert _lock(root, engine, upgrade_packages=["sc-other"]).written == []
        assert lockfile.read(root / MAIN_LOCK).versions() == {"sc-solo": "1.0"}
    for engine, root in roots.items():
        assert _lock(root, engine, upgrade_packages=["sc-solo"]).written == [MAIN_LOCK] + [PYLOCK] * (engine == "uv")
        assert lockfile.read(root / MAIN_LOCK).versions() == {"sc-solo": "2.0"}
    root = roots["uv"]
    (root / MAIN_LOCK).unlink()
    make_wheel(files, "sc-solo", "1.0")
    _lock(root, "uv")
    assert lockfile.read(root / MAIN_LOCK).versions() == {"sc-solo": "2.0"}


def test_upgrade_moves_everything(tmp_path, offline):
    root = write_project(tmp_path, deps=["sc-alpha"])
    (root / MAIN_LOCK).write_text(lockfile.Lock(pins={
        "sc-alpha": lockfile.Pin("sc-alpha", "1.0", hashes=("sha256:" + "0" * 64,)),
    }).render(["old"]))
    _lock(root)
    assert lockfile.read(root / MAIN_LOCK).versions()["sc-alpha"] == "1.0"  # old pin preferred
    _lock(root, upgrade=True)
    assert lockfile.read(root / MAIN_LOCK).versions()["sc-alpha"] == "2.0"


def _universal_states(root):
    from scaffolder.locks.platforms import DEFAULT_PLATFORMS

    return _states(root, DEFAULT_PLATFORMS)


def test_staleness_follows_the_inputs(tmp_path, offline):
    root = write_project(tmp_path, deps=["sc-alpha"], dev=["sc-devtool"])
    _states = _universal_states
    assert _states(root) == ("missing", "missing")
    _lock(root)
    assert _states(root) == ("fresh", "fresh")
    write_project(root, deps=["sc-alpha", "sc-gamma"], dev=["sc-devtool"])
    assert _states(root) == ("stale", "stale")
    _lock(root)
    text = (root / MAIN_LOCK).read_text()
    (root / MAIN_LOCK).write_text(text.replace("sc-gamma==1.0", "sc-gamma==1.1"))
    assert _states(root)[0] == "modified"
    (root / MAIN_LOCK).write_text(text[: text.index("--hash=") + 20])  # cut off mid-hash
    assert _states(root)[0] == "corrupted"
    (root / MAIN_LOCK).write_text(text[: text.index(" content=")])
    assert _states(root)[0] == "corrupted"
    write_project(root, deps=["sc-alpha", "sc-gamma"])
    assert _states(root)[1] == "stale"  # a dev lock without dev inputs
    _lock(root)
    assert not (root / DEV_LOCK).exists() and _states(root) == ("fresh", "fresh")


@pytest.mark.parametrize("engine", ["uv", "pip"])
@pytest.mark.parametrize("deps, message", [
    (["sc-nonexistent"], "no package named sc-nonexistent"),
    (["sc-alpha==2.0", "sc-gamma"], "cannot be satisfied together"),
    (["sc-alpha==9.9"], "no version of sc-alpha"),
])
def test_bad_requirements_leave_the_old_lock(tmp_path, offline, engine, deps, message):
    root = write_project(tmp_path, deps=["sc-beta"], dev=["sc-devtool"])
    _lock(root, engine)
    before = {name: (root / name).read_bytes() for name in (MAIN_LOCK, DEV_LOCK)}
    write_project(root, deps=deps, dev=["sc-devtool"])
    with pytest.raises(LockError, match=message) as info:
        _lock(root, engine)
    assert "\n" not in info.value.format_message()
    assert {name: (root / name).read_bytes() for name in before} == before
    pylocks = [PYLOCK, PYLOCK_DEV] if engine == "uv" else []
    assert sorted(p.name for p in root.iterdir()) == sorted([MAIN_LOCK, DEV_LOCK, *pylocks, "pyproject.toml"])


@pytest.mark.parametrize("engine", ["uv", "pip"])
def test_unreachable_index_leaves_the_old_lock(tmp_path, offline, monkeypatch, engine):
    root = write_project(tmp_path, deps=["sc-beta"])
    _lock(root, engine)
    before = (root / MAIN_LOCK).read_bytes()
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    write_project(root, deps=["sc-beta", "sc-alpha"])
    with pytest.raises(LockError, match=r"cannot reach http://127\.0\.0\.1:9/simple"):
        _lock(root, engine)
    assert (root / MAIN_LOCK).read_bytes() == before


def test_requirements_in_and_no_dependencies(tmp_path, offline):
    root = write_project(tmp_path)
    result = _lock(root)
    assert result.packages == 0 and lockfile.read(root / MAIN_LOCK).pins == {}
    (root / "requirements.in").write_text("sc-alpha<2  # old API\n")
    _lock(root, "pip")
    lock = lockfile.read(root / MAIN_LOCK)
    assert lock.versions() == {"sc-alpha": "1.0", "sc-beta": "2.0"}
    assert lock.pins["sc-alpha"].via == ("requirements.in",)
    _lock(root, "uv")
    assert lockfile.read(root / MAIN_LOCK).versions() == {"sc-alpha": "1.0", "sc-beta": "2.0"}


def test_pip_compile_resolves_only_for_its_own_python(tmp_path, offline):
    root = write_project(tmp_path, deps=["sc-beta"])
    other = "3.13" if PY == "3.12" else "3.12"  # any Python but the one running pip-compile
    with pytest.raises(LockError, match="use --installer uv"):
        lock_project(root, Project.load(root).pyproject, python=other, torch="cpu", engine="pip", platforms=HERE)
    with pytest.raises(LockError, match="pip-compile cannot lock for several platforms"):
        _lock(root, "pip", platforms=("linux-x86_64", "macos-arm64"))
    other_lock = lock_project(root, Project.load(root).pyproject, python=other, torch="cpu", engine="uv")
    assert lockfile.read(root / MAIN_LOCK).meta["python"] == other and other_lock.packages == 1


@pytest.fixture
def torch_builds(tmp_path, offline, monkeypatch):
    """Stand-ins for torch's builds: the plain one (PyPI's, a CUDA build on Linux) on the index, the
    +cpu one in a local wheelhouse (like this machine's pip.conf), the +cu126 one on a variant index."""
    index_files, wheelhouse, cu126 = tmp_path / "index-files", tmp_path / "wheelhouse", tmp_path / "cu126-files"
    make_wheel(index_files, "torch", "2.13.0", ["sc-beta"])
    make_wheel(index_files, "sc-beta", "1.0")
    make_wheel(wheelhouse, "torch", "2.13.0+cpu", ["sc-beta"])
    make_wheel(cu126, "torch", "2.13.0+cu126", ["sc-beta"])
    monkeypatch.setenv("PIP_INDEX_URL", make_simple_index(index_files, tmp_path / "index"))
    make_simple_index(cu126, tmp_path / "cu126", relative=True)
    return wheelhouse, tmp_path / "cu126"


def _torch_lock(root, engine, torch):
    return lock_project(root, Project.load(root).pyproject, python=PY, torch=torch, engine=engine,
                        platforms=HERE if engine == "pip" else None)


@pytest.mark.parametrize("engine", ["uv", "pip"])
def test_cpu_torch_comes_from_the_local_wheelhouse(tmp_path, torch_builds, monkeypatch, engine):
    wheelhouse, _ = torch_builds
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    root = write_project(tmp_path / "p", deps=["torch==2.13.0"])
    _torch_lock(root, engine, "cpu")
    text = (root / MAIN_LOCK).read_text()
    assert lockfile.parse(text).versions()["torch"] == "2.13.0+cpu"
    assert "--extra-index-url" not in text and "--find-links" not in text and str(wheelhouse) not in text


@pytest.mark.parametrize("engine", ["uv", "pip"])
def test_a_cuda_build_for_a_cpu_project_is_refused(tmp_path, torch_builds, monkeypatch, engine):
    monkeypatch.setenv("SCAFFOLDER_TORCH_INDEX_CPU", "")  # no CPU index: only the plain (CUDA) build is there
    root = write_project(tmp_path / "p", deps=["torch==2.13.0"])
    with pytest.raises(LockError, match="a CUDA build, but this project wants the CPU build"):
        _torch_lock(root, engine, "cpu")
    assert not (root / MAIN_LOCK).exists()


@pytest.mark.parametrize("engine", ["uv", "pip"])
def test_cuda_variant_lock_points_torch_at_its_index(tmp_path, torch_builds, monkeypatch, engine):
    _, cu126_root = torch_builds
    with serve(cu126_root) as base:
        monkeypatch.setenv("SCAFFOLDER_TORCH_INDEX_CU126", f"{base}/simple")
        root = write_project(tmp_path / "p", deps=["torch==2.13.0"])
        _torch_lock(root, engine, "cu126")
        lock = lockfile.read_verified(root / MAIN_LOCK)
        assert lock.versions()["torch"] == "2.13.0+cu126" and lock.meta["torch"] == "cu126"
        assert lock.options == [f"--extra-index-url {base}/simple"]
        monkeypatch.delenv("SCAFFOLDER_TORCH_INDEX_CU126")  # installing needs only the lock's own index line
        backend = get_backend("uv" if engine == "uv" else "virtualenv")
        backend.create(root / ".venv", sys.executable)  # the Python the lock was made for
        install_locked(root, root / ".venv", backend)
        assert backend.installed(root / ".venv")["torch"] == "2.13.0+cu126"


def test_an_unknown_installer_is_named(tmp_path):
    from scaffolder.locks.resolvers import RESOLVERS, compile_requirements

    assert RESOLVERS == ("uv", "pip")
    with pytest.raises(LockError, match=r"unknown installer 'conda' \(use one of: uv, pip\)"):
        compile_requirements("conda", tmp_path / "in.txt", tmp_path / "out.txt", python=PY)
