"""scaffolder.nox: nox sessions install exactly the lock, for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import wheelhouse as wh
from conftest import REPO

from scaffolder import nox as snox
from scaffolder.errors import LockError, UsageError
from scaffolder.project import Project

NOXFILE = """
import nox
from scaffolder.nox import install_locked, venv_backend

nox.options.default_venv_backend = venv_backend()


@nox.session
def show(session):
    install_locked(session, groups=["dev"], install_project=False)
    code = "import sc_alpha, sc_beta, sc_devtool; print('VERSIONS', sc_alpha.VERSION, sc_beta.VERSION)"
    session.run("python", "-c", code)
"""


def _scaffolder(args, cwd, env):
    return subprocess.run([sys.executable, "-m", "scaffolder", *args], cwd=cwd, env=env, capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return wh.build_standard_index(tmp_path_factory.mktemp("index"))


@pytest.fixture
def locked_project(tmp_path, sources):
    files, _ = sources
    project = wh.write_project(tmp_path / "proj", deps=["sc-alpha"], dev=["sc-devtool"])
    env = wh.offline_environ(dict(os.environ), find_links=files)
    env["PYTHONPATH"] = str(REPO)
    proc = _scaffolder(["lock"], project, env)
    assert proc.returncode == 0, proc.stderr
    (project / "noxfile.py").write_text(NOXFILE)
    return project, env


@pytest.mark.parametrize("installer, backend", [("uv", "uv|virtualenv"), ("pip", "virtualenv")])
def test_venv_backend_follows_the_project(tmp_path, installer, backend):
    wh.write_project(tmp_path, settings=f'installer = "{installer}"')
    assert snox.venv_backend(tmp_path) == backend


def test_conda_projects_get_conda_backends(tmp_path):
    wh.write_project(tmp_path, settings='env = "conda"')
    assert snox.venv_backend(tmp_path) == "micromamba|mamba|conda"


@pytest.mark.parametrize("backend", ["uv", "virtualenv"])
def test_session_installs_exactly_the_lock(locked_project, backend):
    project, env = locked_project
    proc = subprocess.run([sys.executable, "-m", "nox", "-s", "show", "--default-venv-backend", backend,
                           "--force-venv-backend", backend], cwd=project, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "VERSIONS 2.0 2.0" in proc.stdout + proc.stderr
    # uv sessions install the PEP 751 lock; pip-backed ones the requirements locks, hash-checked.
    assert ("pylock.dev.toml" if backend == "uv" else "--require-hashes") in proc.stderr


def test_tampered_pylock_is_refused_before_installing(locked_project):
    project, env = locked_project
    lock = project / "pylock.dev.toml"
    lock.write_text(lock.read_text().replace('version = "2.0"', 'version = "1.0"', 1))
    proc = subprocess.run([sys.executable, "-m", "nox", "-s", "show", "--force-venv-backend", "uv"], cwd=project,
                          env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "pylock.dev.toml was changed after it was generated" in proc.stdout + proc.stderr


def test_tampered_lock_is_refused_before_installing(locked_project):
    project, env = locked_project
    lock = project / "requirements.lock"
    lock.write_text(lock.read_text().replace("sc-alpha==2.0", "sc-alpha==1.0"))
    proc = subprocess.run([sys.executable, "-m", "nox", "-s", "show"], cwd=project, env=env, capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert "changed after it was generated" in proc.stdout + proc.stderr


def test_missing_group_lock_is_a_clear_error(tmp_path):
    wh.write_project(tmp_path)
    with pytest.raises(LockError, match="scaffolder lock"):
        snox.lock_paths(Project.load(tmp_path), ["dev"])


def test_a_group_scaffolder_does_not_lock_is_a_usage_error(tmp_path):
    project = wh.write_project(tmp_path / "proj")
    for name in ("requirements.lock", "requirements-dev.lock"):
        (project / name).write_text("")
    assert [p.name for p in snox.lock_paths(Project.load(project), ["dev"])] == ["requirements.lock",
                                                                                  "requirements-dev.lock"]
    session = RecordingSession(tmp_path / "tmp")
    with pytest.raises(UsageError) as info:
        snox.install_locked(session, groups=["dev", "docs"], root=project)
    assert session.calls == []
    assert str(info.value) == ("no lock for group(s) 'docs': scaffolder locks only 'dev' "
                               "(requirements-dev.lock holds every [dependency-groups] group: pass groups=['dev'], "
                               "or groups=[] for the main set alone)")
    with pytest.raises(UsageError, match="'docs'"):
        snox.lock_paths(Project.load(project), ["docs"])
    with pytest.raises(UsageError, match="no lock for group\\(s\\) 'docs'"):  # a string is one group
        snox.install_locked(session, groups="docs", root=project)


class RecordingSession:
    """Stands in for a nox session with a conda backend: no conda executable can exist on this machine."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.calls = tmp, []
        self.venv_backend = "conda"

    def create_tmp(self) -> str:
        self.tmp.mkdir(exist_ok=True)
        return str(self.tmp)

    def conda_install(self, *args):
        self.calls.append(("conda_install", args))

    def install(self, *args):
        self.calls.append(("install", args))


def test_conda_project_installs_its_explicit_lock(tmp_path, monkeypatch, tmp_path_factory, channel):
    import conda_channel as cc
    from click.testing import CliRunner

    from scaffolder.cli import cli
    from scaffolder.locks import condalock

    monkeypatch.setenv("RATTLER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rattler-cache"))
    monkeypatch.setenv("SCAFFOLDER_CONDA_CHANNELS", channel.as_uri())
    monkeypatch.setenv("SCAFFOLDER_CONDA_ENGINE", "rattler")
    monkeypatch.setenv("SCAFFOLDER_TORCH", "cpu")
    result = CliRunner().invoke(cli, ["new", "cproj", "-t", "minimal", "-o", str(tmp_path), "--no-input", "--env",
                                      "conda", "--python", cc.PY, "--set", f"python_version={cc.PY}", "--no-kernel"])
    assert result.exit_code == 0, result.output
    project = tmp_path / "cproj"
    session = RecordingSession(tmp_path / "session-tmp")
    snox.install_locked(session, root=project)
    (kind, args), *rest = session.calls
    assert kind == "conda_install" and args[0] == "--file"
    explicit = Path(args[1]).read_text().splitlines()
    lock = condalock.read_lock(project / "conda-lock.yml")
    packages = condalock.locked_packages(lock, condalock.current_platform(), "conda")
    assert explicit[1] == "@EXPLICIT"
    assert explicit[2:] == [f"{p.url}#{p.hash.md5}" for p in packages] and packages
    assert rest[-1] == ("install", ("--no-deps", "-e", str(project)))


@pytest.mark.slow
@pytest.mark.parametrize("template", ["minimal"])
def test_generated_project_nox_sessions_pass(tmp_path, template):
    """`nox -s tests lint` in a freshly generated project, with this machine's real package sources."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "SCAFFOLDER_COMPILE_BYTECODE": "0"}
    made = _scaffolder(["new", "noxy", "-t", template, "--no-input", "--no-kernel"], tmp_path, env)
    assert made.returncode == 0, made.stderr[-3000:]
    project = tmp_path / "noxy"
    proc = subprocess.run([sys.executable, "-m", "nox", "-s", "tests", "lint"], cwd=project, env=env,
                          capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Session tests was successful" in out and "Session lint was successful" in out
    assert "2 passed" in out
