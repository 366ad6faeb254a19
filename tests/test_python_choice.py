"""``new`` and ``env create`` choose an installed interpreter within requires-python, through the CLI.

``pythons`` (tests/pythonlayout.py) decides which real interpreters are installed: PATH, pyenv and
uv directories of links to this machine's Pythons, or only the running one on a bare machine.
"""

import json
import sys
from pathlib import Path

import pytest
from pythonlayout import newest, next_minor, runs
from test_environment import error_of, sc

from scaffolder.locks import lockfile
from scaffolder.project import Project
from scaffolder.pythons import current_version

pytest_plugins = ["envfixtures", "pythonlayout"]
HERE = current_version()


def write(root: Path, requires: str, scaffolder_table: str = "") -> Path:
    """A project that records no python (unless ``scaffolder_table`` does) and requires ``requires``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = "{requires}"\ndependencies = ["sc-alpha"]\n'
        f'[tool.scaffolder]\ntemplate = "test"\n{scaffolder_table}')
    return root


@pytest.fixture
def template(tmp_path):
    """A template whose python_version answer is the running Python and whose requires-python is its own answer."""
    root = tmp_path / "tpl"
    (root / "{{cookiecutter.project_slug}}").mkdir(parents=True)
    (root / "cookiecutter.json").write_text(json.dumps({
        "project_name": "demo", "project_slug": "{{ cookiecutter.project_name }}",
        "python_version": HERE, "min_python": "3.6",
    }))
    (root / "{{cookiecutter.project_slug}}" / "pyproject.toml").write_text(
        '[project]\nname = "{{ cookiecutter.project_slug }}"\nversion = "0.1.0"\n'
        'requires-python = ">={{ cookiecutter.min_python }}"\ndependencies = ["sc-alpha"]\n')
    return root


def test_env_create_picks_the_newest_match_and_keeps_it(tmp_path, offline, pythons, monkeypatch):
    placed = pythons()
    root = write(tmp_path / "demo", f">={HERE}")
    monkeypatch.chdir(root)
    chosen = newest(placed, HERE)
    out = sc("env", "create").output
    assert f"Python {chosen} ({placed[chosen]}): newest installed match for requires-python >={HERE}\n" in out
    assert Project.load(root).recorded["python"] == chosen
    assert lockfile.read(root / "requirements.lock").meta["python"] == chosen
    assert runs(root / ".venv" / "bin" / "python") == chosen
    sc("check")

    # Asked for: SCAFFOLDER_PYTHON wins over the newest; then the recorded python is kept.
    monkeypatch.setenv("SCAFFOLDER_PYTHON", HERE)
    out = sc("env", "create", "--recreate").output
    assert f"Python {HERE} ({sys.executable}): set by SCAFFOLDER_PYTHON\n" in out
    monkeypatch.delenv("SCAFFOLDER_PYTHON")
    out = sc("env", "create", "--recreate").output
    assert f"Python {HERE} ({sys.executable}): set by [tool.scaffolder] python\n" in out
    assert Project.load(root).recorded["python"] == HERE and runs(root / ".venv" / "bin" / "python") == HERE


def test_env_create_without_a_match_lists_what_is_installed_and_creates_nothing(tmp_path, offline, pythons,
                                                                                monkeypatch):
    placed = pythons()
    above = next_minor(newest(placed))
    root = write(tmp_path / "demo", f">={above}")
    before = (root / "pyproject.toml").read_bytes()
    monkeypatch.chdir(root)
    line = error_of(sc("env", "create", ok=1))
    assert line.startswith(f"error: no installed Python satisfies requires-python >={above} (found: ")
    assert all(f"{version} ({path})" in line for version, path in placed.items())
    assert line.endswith("pass an interpreter with --python)")
    assert sorted(p.name for p in root.iterdir()) == ["pyproject.toml"]
    assert (root / "pyproject.toml").read_bytes() == before


@pytest.mark.parametrize("how", ["--python", "SCAFFOLDER_PYTHON", "recorded"])
def test_an_asked_for_python_outside_requires_python_still_fails(tmp_path, offline, pythons, monkeypatch, how):
    pythons()
    above = next_minor()
    root = write(tmp_path / "demo", f">={above}", f'python = "{HERE}"\n' if how == "recorded" else "")
    monkeypatch.chdir(root)
    if how == "SCAFFOLDER_PYTHON":
        monkeypatch.setenv("SCAFFOLDER_PYTHON", HERE)
    result = sc("env", "create", *(["--python", HERE] if how == "--python" else []), ok=2)
    assert error_of(result) == f"error: the project requires Python >={above}, not {HERE} (choose another --python)"
    assert not (root / ".venv").exists() and not (root / "requirements.lock").exists()


def test_new_prefers_the_templates_python_version_then_the_newest(template, tmp_path, offline, pythons):
    placed = pythons()
    new = ["new", "demo", "-t", str(template), "--no-input", "--no-kernel", "--env", "venv"]
    out = sc(*new, "-o", str(tmp_path / "a")).output
    assert f"Python {HERE} ({sys.executable}): the template's python_version, within requires-python >=3.6\n" in out
    project = tmp_path / "a" / "demo"
    assert Project.load(project).recorded["python"] == HERE and runs(project / ".venv" / "bin" / "python") == HERE

    chosen = newest(placed, HERE)
    out = sc(*new, "-o", str(tmp_path / "b"), "--set", "python_version=3.99", "--set", f"min_python={HERE}").output
    assert (f"Python {chosen} ({placed[chosen]}): newest installed match for requires-python >={HERE} "
            "(the template's python_version 3.99 is not installed)\n") in out
    project = tmp_path / "b" / "demo"
    assert Project.load(project).recorded["python"] == chosen and runs(project / ".venv" / "bin" / "python") == chosen


def test_new_without_a_match_fails_in_one_line_and_leaves_nothing(template, tmp_path, offline, pythons):
    placed = pythons()
    above = next_minor(newest(placed))
    result = sc("new", "demo", "-t", str(template), "--no-input", "--no-kernel", "--env", "venv",
                "-o", str(tmp_path / "out"), "--set", f"min_python={above}", ok=1)
    line = error_of(result)
    assert line.startswith(f"error: create environment failed: no installed Python satisfies requires-python "
                           f">={above} (found: {', '.join(f'{v} ({p})' for v, p in sorted(placed.items(), key=_key))})")
    assert not (tmp_path / "out").exists()


def _key(item):
    return tuple(int(part) for part in item[0].split("."))
