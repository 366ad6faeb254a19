"""Both venv backends for real: uv (uv venv + uv pip sync) and virtualenv (virtualenv + pip)."""

import subprocess

import pytest
from wheelhouse import PY, make_wheel

from scaffolder.envs import get_backend
from scaffolder.errors import EnvError
from scaffolder.locks import lockfile
from scaffolder.pythons import find_interpreters

pytest_plugins = ["envfixtures"]


def _lock_text(local_index, pins):
    """A merged install file pinning ``pins`` with the real hashes of the local wheels."""
    import hashlib

    files, _ = local_index
    entries = {}
    for name, version in pins.items():
        wheel = files / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        entries[name] = lockfile.Pin(name, version, hashes=(f"sha256:{digest}",))
    return lockfile.merge_for_install([("lock", lockfile.Lock(pins=entries))])


@pytest.fixture(params=["uv", "virtualenv"])
def backend(request):
    return get_backend(request.param)


def test_create_sync_exactly_and_compile_bytecode(tmp_path, offline, local_index, backend):
    env = tmp_path / ".venv"
    other = "3.12" if PY != "3.12" else "3.11"
    python = find_interpreters().get(other)
    backend.compile_bytecode = True  # --compile-bytecode
    backend.create(env, str(python) if python else None)
    assert backend.problem(env) is None
    if python:
        assert backend.python_version(env).startswith(other + ".")
    lock = tmp_path / "lock.txt"
    lock.write_text(_lock_text(local_index, {"sc-alpha": "2.0", "sc-beta": "2.0", "sc-gamma": "1.0"}))
    backend.sync(env, lock)
    assert {k: v for k, v in backend.installed(env).items() if k not in backend.keep} == \
        {"sc-alpha": "2.0", "sc-beta": "2.0", "sc-gamma": "1.0"}
    assert list((backend.site_packages(env) / "sc_alpha" / "__pycache__").glob("*.pyc"))
    lock.write_text(_lock_text(local_index, {"sc-beta": "1.0"}))  # downgrade one, drop two
    backend.sync(env, lock)
    assert {k: v for k, v in backend.installed(env).items() if k not in backend.keep} == {"sc-beta": "1.0"}
    out = subprocess.run([str(backend.python(env)), "-c", "import sc_beta; print(sc_beta.VERSION)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1.0"


def test_a_tampered_hash_changes_nothing(tmp_path, offline, local_index, backend):
    env = tmp_path / ".venv"
    backend.create(env)
    lock = tmp_path / "lock.txt"
    lock.write_text(_lock_text(local_index, {"sc-beta": "1.0"}))
    backend.sync(env, lock)
    before = backend.installed(env)
    good = _lock_text(local_index, {"sc-alpha": "2.0", "sc-beta": "2.0"})
    digest = good.split("sc-alpha==2.0 \\\n    --hash=sha256:")[1][:64]
    lock.write_text(good.replace(digest, "0" * 64))
    with pytest.raises(EnvError, match="hash mismatch for sc-alpha") as info:
        backend.sync(env, lock)
    assert "\n" not in info.value.format_message()
    assert backend.installed(env) == before


def test_broken_envs_are_named(tmp_path, backend):
    env = tmp_path / ".venv"
    assert "does not exist" in backend.problem(env)
    backend.create(env)
    backend.python(env).unlink()
    assert "no working Python" in backend.problem(env)
    (env / "pyvenv.cfg").unlink()
    assert "not a virtual environment" in backend.problem(env)


@pytest.mark.parametrize("setting, compiled", [(None, False), ("0", False), ("1", True)])
def test_bytecode_compilation_is_opt_in(tmp_path, offline, local_index, backend, monkeypatch, setting, compiled):
    monkeypatch.setenv("SCAFFOLDER_CONFIG", str(tmp_path / "none.toml"))
    if setting is None:
        monkeypatch.delenv("SCAFFOLDER_COMPILE_BYTECODE", raising=False)
    else:
        monkeypatch.setenv("SCAFFOLDER_COMPILE_BYTECODE", setting)
    from scaffolder import config
    from scaffolder.envs.venv.manager import venv_backend

    backend = venv_backend(backend.installer, config.load())  # how a command gets its backend
    env = tmp_path / ".venv"
    backend.create(env)
    lock = tmp_path / "lock.txt"
    lock.write_text(_lock_text(local_index, {"sc-beta": "2.0"}))
    backend.sync(env, lock)
    assert backend.installed(env)["sc-beta"] == "2.0"
    assert (backend.site_packages(env) / "sc_beta" / "__pycache__").exists() == compiled


def test_shipped_test_suites_are_not_compiled(tmp_path, offline, backend, monkeypatch):
    import hashlib

    wheel = make_wheel(tmp_path / "wheels", "sc-suite", "1.0", extra={"sc_suite/tests/test_it.py": "X = 1\n",
                                                                       "sc_suite/core.py": "Y = 2\n"})
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "wheels"))
    lock = tmp_path / "lock.txt"
    lock.write_text(f"sc-suite==1.0 --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}\n")
    env = tmp_path / ".venv"
    backend.compile_bytecode = True
    backend.create(env)
    backend.sync(env, lock)
    package = backend.site_packages(env) / "sc_suite"
    assert [p.name.split(".")[0] for p in sorted((package / "__pycache__").glob("*.pyc"))] == ["__init__", "core"]
    assert not (package / "tests" / "__pycache__").exists()
