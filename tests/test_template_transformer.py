"""The generated `transformer` project passes its own tests and lint, straight after generation.

Its tests train tiny models with real torch and transformers on CPU.
"""

import subprocess
import sys

import pytest
from conftest import run_generated_tests

from scaffolder.lifecycle.new import NewOptions, create_project

pytestmark = pytest.mark.torch  # the generated tests run in this interpreter

@pytest.fixture(scope="module")
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    result = create_project(NewOptions(name="sentiment-bot", template="transformer", output_dir=out))
    return result.project_dir


def test_generated_tests_pass(project):
    proc = run_generated_tests(project)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_generated_project_is_lint_clean(project):
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=project, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
