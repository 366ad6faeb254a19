"""End to end, with this machine's real pip configuration: ``scaffolder new`` with the transformer
template locks and installs real torch==2.13.0 (the local CPU wheel) and transformers into the
project's .venv, registers its kernel, and the generated project's own tests pass inside that env.

Slow (resolution against the real indexes, installing ~1.4 GB, then the project's own tests), but it
runs in CI.
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

from scaffolder.envs import get_backend
from scaffolder.locks import lockfile

pytestmark = [pytest.mark.slow, pytest.mark.torch]


# The Jupyter dirs the module fixture registered its kernel in (each test otherwise gets fresh ones).
JUPYTER_ENV: dict[str, str] = {}


def _scaffolder(*args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCAFFOLDER_TORCH", "SCAFFOLDER_INDEX"))}
    env.update(JUPYTER_ENV)
    env["PYTHONPATH"] = str(REPO)
    # Compiling ~1.4 GB of bytecode takes about 2 minutes here; test_envs_venv_backends proves it happens.
    env["SCAFFOLDER_COMPILE_BYTECODE"] = "0"
    return subprocess.run([sys.executable, "-m", "scaffolder", *args], cwd=cwd, env=env, capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e")
    JUPYTER_ENV.update({k: v for k, v in os.environ.items() if k.startswith("JUPYTER_")})
    proc = _scaffolder("new", "sentiment-bot", "-t", "transformer", "--no-input", "--set",
                       "torch_requirement=torch==2.13.0", "--torch", "cpu", "--json", cwd=out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "sentiment-bot"


def test_env_holds_the_locked_cpu_torch_and_transformers(project):
    installed = get_backend("uv").installed(project / ".venv")
    assert installed["torch"] == "2.13.0+cpu"
    assert "transformers" in installed and "pytest" in installed and "ipykernel" in installed
    locked = lockfile.read_verified(project / "requirements.lock")
    assert locked.versions()["torch"] == "2.13.0+cpu"
    assert "file://" not in (project / "requirements.lock").read_text()  # no machine-local index lines
    assert not [n for n in installed if n.startswith("nvidia-")]  # never the multi-GB CUDA build
    check = _scaffolder("check", "--json", cwd=project)
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["ok"] is True


def test_generated_tests_pass_inside_the_env(project):
    proc = subprocess.run([str(project / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=project, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
