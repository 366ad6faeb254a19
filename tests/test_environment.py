"""``scaffolder env``, ``lock`` and ``check`` on real projects, envs and a local index, through the CLI."""

import json
import os
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner
from conftest import REPO
from wheelhouse import write_project

from scaffolder.cli import cli
from scaffolder.envs import get_backend
from scaffolder.errors import EXIT_DRIFT
from scaffolder.locks import lockfile
from scaffolder.mutex import project_mutex
from scaffolder.project import Project

pytest_plugins = ["envfixtures"]


@pytest.fixture
def project(tmp_path, offline, monkeypatch):
    root = write_project(tmp_path / "demo", deps=["sc-alpha"], dev=["sc-devtool"])
    monkeypatch.chdir(root)
    return root


def sc(*args, ok=True):
    result = CliRunner().invoke(cli, list(args))
    if ok is True:
        assert result.exit_code == 0, result.output
    elif ok is not None:
        assert result.exit_code == ok, result.output
    return result


def error_of(result):
    """The one error line of a failed command (progress lines may precede it)."""
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


def _uv_pip(root, *args):
    from scaffolder.tools import find_uv

    subprocess.run([find_uv(), "pip", *args, "--python", str(root / ".venv" / "bin" / "python"), "-q",
                    "--index-url", os.environ["PIP_INDEX_URL"]], check=True, env={**os.environ, "UV_NO_CONFIG": "1"})


def _snapshot(root):
    """Every file under ``root`` with its size and mtime: any change to the tree shows."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_create_check_drift_sync_and_remove(project):
    result = sc("env", "create", "--json")
    data = json.loads(result.stdout)
    assert data["installer"] == "uv" and data["packages"] == 3
    settings = Project.load(project).recorded
    assert {k: settings[k] for k in ("env", "installer", "env_path", "lock", "torch")} == \
        {"env": "venv", "installer": "uv", "env_path": ".venv", "lock": "requirements.lock", "torch": "cpu"}
    assert "already exists" in sc("env", "create", ok=1).output
    assert sc("check").output.startswith("environment: ok")

    info = json.loads(sc("env", "info", "--json").stdout)
    assert info["path"] == str(project / ".venv") and info["packages"] == 3 and info["matches_lock"] is True
    assert info["env"] == "venv" and "backend" not in info
    assert info["lock"]["requirements.lock"]["state"] == "fresh" and info["python"].startswith(settings["python"])

    _uv_pip(project, "install", "sc-gamma==1.0", "sc-beta==1.0")
    drifted = sc("check", ok=EXIT_DRIFT)
    assert "+ sc-gamma 1.0 (not in the lock)" in drifted.output and "~ sc-beta 1.0 (the lock has 2.0)" in drifted.output
    assert json.loads(sc("check", "--json", ok=EXIT_DRIFT).stdout)["ok"] is False
    assert "sc-gamma" in sc("env", "sync").output
    sc("check")

    write_project(project, deps=["sc-alpha", "sc-gamma"], dev=["sc-devtool"])
    assert "out of date" in sc("check", ok=EXIT_DRIFT).output
    sc("lock", "--check", ok=EXIT_DRIFT)
    sc("lock")
    sc("lock", "--check")
    assert "~ sc-alpha 2.0 (the lock has 1.0)" in sc("check", ok=EXIT_DRIFT).output
    sc("env", "sync")
    sc("check")

    sc("env", "remove")
    assert not (project / ".venv").exists()
    assert "does not exist" in sc("check", ok=EXIT_DRIFT).output
    assert "run 'scaffolder env create'" in sc("env", "sync", ok=1).output
    assert "no environment" in sc("env", "remove").output


def test_pip_installer_end_to_end(project):
    sc("env", "create", "--installer", "pip")
    settings = Project.load(project).recorded
    assert settings["installer"] == "pip"
    installed = get_backend("virtualenv").installed(project / ".venv")
    assert installed.keys() == {"pip", "sc-alpha", "sc-beta", "sc-devtool"}
    sc("check")
    _uv_pip(project, "install", "sc-gamma==1.0")
    sc("env", "sync")
    assert "sc-gamma" not in get_backend("virtualenv").installed(project / ".venv")


def test_failed_recreate_brings_back_the_old_env(project):
    sc("env", "create")
    marker = project / ".venv" / "marker"
    marker.write_text("old env")
    write_project(project, deps=["sc-broken"])  # locks (metadata is readable) but cannot be built
    sc("lock")
    before = _snapshot(project / ".venv")
    assert "could not build sc-broken" in error_of(sc("env", "create", "--recreate", ok=1))
    assert _snapshot(project / ".venv") == before and marker.read_text() == "old env"
    assert sorted(p.name for p in project.iterdir()) == [".venv", "pylock.toml", "pyproject.toml",
                                                         "requirements.lock"]


def test_failed_create_after_locking_leaves_pyproject_and_no_lock(project):
    """env create locks first (recording python, torch, lock in [tool.scaffolder]); when the install
    then fails, the table and the lock files go back to what they were."""
    write_project(project, deps=["sc-broken"])  # locks (metadata is readable) but cannot be built
    before = (project / "pyproject.toml").read_bytes()
    assert "could not build sc-broken" in error_of(sc("env", "create", ok=1))
    assert (project / "pyproject.toml").read_bytes() == before
    assert sorted(p.name for p in project.iterdir()) == ["pyproject.toml"]


def test_missing_python_creates_nothing(project):
    before = (project / "pyproject.toml").read_bytes()
    assert "Python 3.99 is not installed (found:" in error_of(sc("env", "create", "--python", "3.99", ok=1))
    assert not (project / ".venv").exists() and (project / "pyproject.toml").read_bytes() == before


def test_broken_and_deleted_envs(project):
    sc("env", "create")
    (project / ".venv" / "bin" / "python").unlink()
    assert "no working Python" in sc("env", "sync", ok=1).output
    assert "no working Python" in sc("check", ok=EXIT_DRIFT).output
    assert "run 'scaffolder env create --recreate'" in sc("env", "sync", ok=1).output
    sc("env", "create", "--recreate")
    sc("check")


def test_corrupted_or_tampered_lock_leaves_env_and_lock(project):
    sc("env", "create")
    lock = project / "requirements.lock"
    good = lock.read_text()
    env_before = _snapshot(project / ".venv")
    for bad, message in [("garbage that is not a requirement\n", "is not a pinned requirement"),
                         (good.replace(good.split("--hash=sha256:")[1][:64], "f" * 64), "changed after")]:
        lock.write_text(bad)
        assert message in error_of(sc("env", "sync", ok=1))
        assert lock.read_text() == bad and _snapshot(project / ".venv") == env_before
        sc("check", ok=EXIT_DRIFT)


def test_unreachable_index_on_sync(project, tmp_path, monkeypatch):
    sc("env", "create")
    write_project(project, deps=["sc-alpha", "sc-gamma"], dev=["sc-devtool"])
    sc("lock")
    env_before = _snapshot(project / ".venv")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "cold-cache"))
    assert "cannot reach http://127.0.0.1:9/simple" in error_of(sc("env", "sync", ok=1))
    assert _snapshot(project / ".venv") == env_before


def test_remove_refuses_what_is_not_an_env(project):
    Project.load(project).record(env_path="src")
    (project / "src" / "demo").mkdir(parents=True)
    (project / "src" / "demo" / "__init__.py").write_text("")
    assert "not a virtual environment" in sc("env", "remove", ok=1).output
    assert "not a virtual environment" in sc("env", "create", "--recreate", ok=1).output
    assert (project / "src" / "demo" / "__init__.py").exists()
    Project.load(project).record(env_path=".")
    assert "would make the project itself" in sc("env", "remove", ok=2).output


def _scaffolder(root, *args, timeout=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "scaffolder", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_concurrent_runs_take_turns(project):
    results = [None, None]

    def run(i):
        results[i] = _scaffolder(project, "lock", "--upgrade")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert lockfile.read_verified(project / "requirements.lock").versions()["sc-alpha"] == "2.0"
    assert not [p for p in project.iterdir() if p.name.startswith(".")]


def test_a_run_waits_for_the_one_holding_the_project(project):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with project_mutex(project):
        child = subprocess.Popen([sys.executable, "-m", "scaffolder", "lock"], cwd=project, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            child.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        assert child.poll() is None and not (project / "requirements.lock").exists()
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0 and "waiting for another scaffolder run" in err
    assert (project / "requirements.lock").exists()


def test_a_busy_project_is_refused(project, monkeypatch):
    monkeypatch.setenv("SCAFFOLDER_LOCK_TIMEOUT", "0")
    with project_mutex(project):
        proc = _scaffolder(project, "lock", timeout=120)
    assert proc.returncode == 1 and "another scaffolder run is working on" in proc.stderr
    assert not (project / "requirements.lock").exists()


def test_create_for_another_python_relocks_for_it(project):
    from scaffolder.pythons import find_interpreters

    here = f"{sys.version_info.major}.{sys.version_info.minor}"  # the Python the first lock is made for
    other = next((v for v in ("3.12", "3.10", "3.13", "3.11") if v != here and v in find_interpreters()), None)
    if other is None:
        pytest.skip("needs a second Python")  # this machine has several; a bare CI box may not
    sc("lock")
    result = sc("env", "create", "--python", other)
    assert f"locking again for Python {other}" in result.output
    assert lockfile.read(project / "requirements.lock").meta["python"] == other
    assert Project.load(project).recorded["python"] == other
    sc("check")


def test_create_with_a_corrupted_lock_changes_nothing(project):
    (project / "requirements.lock").write_text("sc-alpha==2.0\n")
    assert "has no --hash" in error_of(sc("env", "create", ok=1))
    assert (project / "requirements.lock").read_text() == "sc-alpha==2.0\n"
    assert not (project / ".venv").exists()


def test_extras_are_chosen_recorded_and_part_of_freshness(project):
    write_project(project, deps=["sc-alpha"], extras={"more": ["sc-gamma"]})
    sc("lock")
    assert "sc-gamma" not in lockfile.read(project / "requirements.lock").versions()
    sc("lock", "--extra", "more")
    assert Project.load(project).recorded["extras"] == ["more"]
    assert lockfile.read(project / "requirements.lock").versions()["sc-gamma"] == "1.0"
    sc("lock", "--check")
    write_project(project, deps=["sc-alpha"], extras={"more": ["sc-gamma", "sc-devtool"]})
    sc("lock", "--check", ok=EXIT_DRIFT)
    sc("lock", "--no-extras")
    assert "extras" not in Project.load(project).recorded
    sc("lock", "--check")
    assert "exclude each other" in error_of(sc("lock", "--extra", "more", "--all-extras", ok=2))
    assert "no extra 'gpu'" in error_of(sc("lock", "--extra", "gpu", ok=2))


class _Counter:
    """Counts calls to one scaffolder function wherever a module bound it (``from x import f`` too)."""

    def __init__(self, monkeypatch, module, name, keep=lambda *a, **k: True):
        import sys as _sys

        self.calls = 0
        real = getattr(module, name)

        def counting(*args, **kwargs):
            self.calls += keep(*args, **kwargs)
            return real(*args, **kwargs)

        for mod in [m for n, m in list(_sys.modules.items()) if n.startswith("scaffolder")]:
            for attr, value in list(vars(mod).items()):
                if value is real:
                    monkeypatch.setattr(mod, attr, counting)


@pytest.mark.parametrize("command", [["env", "create"], ["lock"]])
def test_one_command_parses_pyproject_and_resolves_settings_once(project, monkeypatch, command):
    """One ``env create`` or ``lock``: pyproject.toml read once, the layered settings (and the team
    file and pip's configuration under them) resolved once, the lock inputs gathered once."""
    import scaffolder.envs.venv.manager  # noqa: F401 - bound before counting, as a command would find it
    import scaffolder.kernels.project  # noqa: F401
    import scaffolder.locks.locking  # noqa: F401
    from scaffolder import config, indexes, tomlfile
    from scaffolder.locks import inputs

    parses = _Counter(monkeypatch, tomlfile, "loads", keep=lambda text, *a, **k: "[tool.scaffolder]" in text)
    resolutions = _Counter(monkeypatch, config, "load")
    team_file_reads = _Counter(monkeypatch, config, "read_file")
    pip_config_reads = _Counter(monkeypatch, indexes, "pip_settings")
    gathers = _Counter(monkeypatch, inputs, "gather")
    sc(*command)
    assert (parses.calls, resolutions.calls, team_file_reads.calls, pip_config_reads.calls, gathers.calls) == \
        (1, 1, 1, 1, 1)


@pytest.mark.parametrize("spelling", ["--backend", "SCAFFOLDER_BACKEND", "team file", "[tool.scaffolder]"])
def test_old_spellings_of_env_still_work_with_one_note(project, monkeypatch, _isolated_home, spelling):
    old = {"--backend": "--backend", "SCAFFOLDER_BACKEND": "SCAFFOLDER_BACKEND",
           "team file": f"backend in {_isolated_home / 'scaffolder.toml'}",
           "[tool.scaffolder]": f"backend in [tool.scaffolder] of {project / 'pyproject.toml'}"}[spelling]
    new = {"--backend": "--env", "SCAFFOLDER_BACKEND": "SCAFFOLDER_ENV"}.get(spelling, "env")
    args = ["env", "create", "--json"]
    if spelling == "--backend":
        args += ["--backend", "venv"]
    elif spelling == "SCAFFOLDER_BACKEND":
        monkeypatch.setenv("SCAFFOLDER_BACKEND", "venv")
    elif spelling == "team file":
        (_isolated_home / "scaffolder.toml").write_text('backend = "venv"\n')
    else:
        path = project / "pyproject.toml"
        path.write_text(path.read_text() + 'backend = "venv"\n')
    result = sc(*args)
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {old} is deprecated, use {new} ({old} will be removed in the next release)"]
    assert json.loads(result.stdout)["packages"] == 3
    text = (project / "pyproject.toml").read_text()
    assert Project.load(project).recorded["env"] == "venv" and "backend" not in text  # recorded as env


def test_lock_and_env_commands_take_the_old_flag_with_a_note(project):
    from scaffolder import console

    note = "note: --backend is deprecated, use --env (--backend will be removed in the next release)"
    for args in (["lock"], ["env", "create"], ["env", "sync"], ["env", "info"], ["env", "remove"]):
        console._DEPRECATED_NOTED.clear()  # each command is its own process in real use
        result = sc(*args, "--backend", "venv")
        assert [line for line in result.stderr.splitlines() if line.startswith("note:")] == [note], args
    both = sc("lock", "--backend", "venv", "--env", "venv", ok=2)
    assert "--backend and --env exclude each other" in both.stderr
    assert "--backend" not in sc("env", "create", "--help").stdout  # the old name is hidden
