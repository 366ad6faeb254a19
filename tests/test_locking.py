"""Real resolutions with both engines (uv pip compile, pip-compile) against a local index built here."""

import pytest
from wheelhouse import PY, make_simple_index, make_wheel, write_project

from scaffolder import lockfile
from scaffolder.errors import LockError
from scaffolder.lock_inputs import gather
from scaffolder.locking import DEV_LOCK, MAIN_LOCK, fingerprints, lock_project, lock_state
from scaffolder.project import Project

pytest_plugins = ["envfixtures"]


def _lock(root, engine="uv", **kwargs):
    return lock_project(root, Project.load(root).pyproject, python=PY, torch="cpu", engine=engine, **kwargs)


def _states(root):
    main_fp, dev_fp = fingerprints(gather(root, Project.load(root).pyproject), PY, "cpu")
    return lock_state(root / MAIN_LOCK, main_fp)[0], lock_state(root / DEV_LOCK, dev_fp)[0]


def test_both_engines_write_the_same_files(tmp_path, offline):
    texts = {}
    for engine in ("uv", "pip"):
        root = write_project(tmp_path / engine, deps=["sc-alpha"], extras={"more": ["sc-gamma"]},
                             dev=["sc-devtool"])
        result = _lock(root, engine)
        assert result.written == [MAIN_LOCK, DEV_LOCK]
        texts[engine] = ((root / MAIN_LOCK).read_text(), (root / DEV_LOCK).read_text())
    assert texts["uv"] == texts["pip"]
    main, dev = (lockfile.parse(t) for t in texts["uv"])
    # sc-gamma needs sc-beta<2, so sc-alpha must drop to 1.0.
    assert main.versions() == {"sc-alpha": "1.0", "sc-beta": "1.0", "sc-gamma": "1.0"}
    assert dev.versions() == {"sc-devtool": "1.0"}  # sc-beta comes from the main lock, at its pin
    assert main.pins["sc-alpha"].via == ("pyproject.toml",)
    assert main.content_ok and main.meta["set"] == "main" and main.meta["python"] == PY
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
    root = write_project(tmp_path / "p", deps=["sc-solo"])
    for engine in ("uv", "pip"):
        _lock(root, engine)
    make_wheel(files, "sc-solo", "2.0")
    make_simple_index(files, tmp_path / "idx")
    for engine in ("uv", "pip"):
        assert _lock(root, engine, upgrade_packages=["sc-other"]).written == []
        assert lockfile.read(root / MAIN_LOCK).versions() == {"sc-solo": "1.0"}
    assert _lock(root, "pip", upgrade_packages=["sc-solo"]).written == [MAIN_LOCK]
    assert lockfile.read(root / MAIN_LOCK).versions() == {"sc-solo": "2.0"}
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


def test_staleness_follows_the_inputs(tmp_path, offline):
    root = write_project(tmp_path, deps=["sc-alpha"], dev=["sc-devtool"])
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
    assert sorted(p.name for p in root.iterdir()) == sorted([MAIN_LOCK, DEV_LOCK, "pyproject.toml"])


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
    _lock(root)
    lock = lockfile.read(root / MAIN_LOCK)
    assert lock.versions() == {"sc-alpha": "1.0", "sc-beta": "2.0"}
    assert lock.pins["sc-alpha"].via == ("requirements.in",)


def test_pip_compile_resolves_only_for_its_own_python(tmp_path, offline):
    root = write_project(tmp_path, deps=["sc-beta"])
    with pytest.raises(LockError, match="use --installer uv"):
        lock_project(root, Project.load(root).pyproject, python="3.12", torch="cpu", engine="pip")
    _lock_312 = lock_project(root, Project.load(root).pyproject, python="3.12", torch="cpu", engine="uv")
    assert lockfile.read(root / MAIN_LOCK).meta["python"] == "3.12" and _lock_312.packages == 1
