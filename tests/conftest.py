import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep cookiecutter replay files, Jupyter kernels and scaffolder config out of the real home."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(home / "cookiecutterrc"))
    (home / "cookiecutterrc").write_text(f"replay_dir: {home / 'replay'}\ncookiecutters_dir: {home / 'cc'}\n")
    for var in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("SCAFFOLDER_CONFIG", str(home / "scaffolder.toml"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    yield home


def run_generated_tests(project: Path, *args: str) -> "subprocess.CompletedProcess":
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project, env=env, capture_output=True, text=True,
    )
