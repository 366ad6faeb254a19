import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _isolate(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep cookiecutter replay files, Jupyter kernels and scaffolder config out of the real home."""
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(home / "cookiecutterrc"))
    (home / "cookiecutterrc").write_text(f"replay_dir: {home / 'replay'}\ncookiecutters_dir: {home / 'cc'}\n")
    for var in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("SCAFFOLDER_CONFIG", str(home / "scaffolder.toml"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    # Jupyter also searches the user site (~/.local/share/jupyter), where kernels made outside the
    # tests live; without the user site only the isolated and system directories are searched.
    monkeypatch.setenv("PYTHONNOUSERSITE", "1")
    monkeypatch.setattr("site.ENABLE_USER_SITE", False)
    return home


@pytest.fixture(scope="session", autouse=True)
def _isolated_session_home(tmp_path_factory):
    """The same isolation for module- and session-scoped fixtures, which run before per-test fixtures."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _isolate(tmp_path_factory.mktemp("session-home"), monkeypatch)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    monkeypatch.setattr("scaffolder.console._DEPRECATED_NOTED", set())  # each test sees its own notes
    yield _isolate(tmp_path_factory.mktemp("home"), monkeypatch)


@pytest.fixture(scope="session")
def channel(tmp_path_factory) -> Path:
    """A local conda channel of small real packages (tests/conda_channel.py), built once per run."""
    import conda_channel

    return conda_channel.standard_channel(tmp_path_factory.mktemp("channel"))


def run_generated_tests(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project, env=env, capture_output=True, text=True,
    )


def make_template(root: Path, files: dict[str, str], variables: dict | None = None, hooks: dict | None = None) -> Path:
    """Write a small cookiecutter template: ``files`` are paths inside the project directory."""
    import json

    root.mkdir(parents=True, exist_ok=True)
    context = {"project_name": "demo", "project_slug": "{{ cookiecutter.project_name }}", **(variables or {})}
    (root / "cookiecutter.json").write_text(json.dumps(context))
    project = root / "{{cookiecutter.project_slug}}"
    for rel, text in files.items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name, code in (hooks or {}).items():
        (root / "hooks").mkdir(exist_ok=True)
        (root / "hooks" / name).write_text(code)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, to prove nothing changed."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
