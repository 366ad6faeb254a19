"""``scaffolder new`` with an environment: one transaction over render, env, lock and install.

A fault is injected after every step, and real faults are provoked inside each step; each time
nothing ``new`` made may remain, and files that were there before must be byte for byte the same.
"""

import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from scaffolder.cli import cli
from scaffolder.errors import ScaffolderError, StepFailed
from scaffolder.lifecycle import new as generate
from scaffolder.lifecycle.new import NewOptions, create_project
from scaffolder.lifecycle.new_steps import STEPS
from scaffolder.project import Project

pytest_plugins = ["envfixtures"]

ENV_STEPS = [step for step in STEPS if step[0] in ("create environment", "lock dependencies", "install packages")]


@pytest.fixture
def template(tmp_path):
    """A local template whose project depends on packages of the local test index."""
    root = tmp_path / "tpl"
    (root / "{{cookiecutter.project_slug}}" / "src" / "{{cookiecutter.package_name}}").mkdir(parents=True)
    (root / "cookiecutter.json").write_text(json.dumps({
        "project_name": "demo", "project_slug": "{{ cookiecutter.project_name }}",
        "package_name": "{{ cookiecutter.project_slug|replace('-', '_') }}", "deps": "sc-alpha",
    }))
    (root / "{{cookiecutter.project_slug}}" / "pyproject.toml").write_text(
        '[project]\nname = "{{ cookiecutter.project_slug }}"\nversion = "0.1.0"\n'
        'dependencies = ["{{ cookiecutter.deps }}"]\n[dependency-groups]\ndev = ["sc-devtool"]\n')
    (root / "{{cookiecutter.project_slug}}" / "src" / "{{cookiecutter.package_name}}" / "__init__.py").write_text(
        "ANSWER = 42\n")
    return root


def _new(template, out, **kwargs):
    options = NewOptions(name="demo", template=str(template), output_dir=out, env="venv", kernel=False, **kwargs)
    return create_project(options)


def _tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_new_makes_env_lock_and_install(template, tmp_path, offline, monkeypatch):
    result = _new(template, tmp_path / "out")
    project = result.project_dir
    assert result.steps == ["render template", "move into place", *(s[0] for s in ENV_STEPS)]
    settings = Project.load(project).recorded
    assert {k: settings[k] for k in ("env", "installer", "env_path", "lock", "torch")} == \
        {"env": "venv", "installer": "uv", "env_path": ".venv", "lock": "requirements.lock", "torch": "cpu"}
    assert (project / "requirements.lock").is_file() and (project / "requirements-dev.lock").is_file()
    out = subprocess.run([str(project / ".venv" / "bin" / "python"), "-c",
                          "import sc_alpha, sc_devtool, demo; print(sc_alpha.VERSION, demo.ANSWER)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2.0", "42"]  # the project's own src/ is importable too
    monkeypatch.chdir(project)
    assert CliRunner().invoke(cli, ["check"]).exit_code == 0


def _failing(exc):
    def run(ctx):
        raise exc

    return ("injected fault", lambda options: True, run)


@pytest.mark.parametrize("after", range(len(ENV_STEPS) + 1))
@pytest.mark.parametrize("exc", [ScaffolderError("injected"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_a_fault_after_any_step_leaves_nothing(template, tmp_path, offline, monkeypatch, after, exc):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    monkeypatch.setattr(generate, "POST_RENDER_STEPS", [*ENV_STEPS[:after], _failing(exc)])
    with pytest.raises((StepFailed, KeyboardInterrupt)):
        _new(template, out)
    assert _tree(out) == {"keep.txt": b"mine"} and [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("options, step, message", [
    ({"python": "3.99"}, "create environment", "Python 3.99 is not installed"),
    ({"overrides": {"deps": "sc-nonexistent"}}, "lock dependencies", "no package named sc-nonexistent"),
    ({"overrides": {"deps": "sc-broken"}}, "install packages", "could not build sc-broken"),
    ({"overrides": {"deps": "sc-broken"}, "installer": "pip"}, "install packages", "could not build sc-broken"),
])
def test_real_faults_inside_each_step_restore_a_forced_directory(template, tmp_path, offline, options, step,
                                                                   message):
    project = tmp_path / "out" / "demo"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("# the user's own pyproject\n")
    (project / "requirements.lock").write_text("# the user's own lock\n")
    (project / "notes.txt").write_text("notes")
    before = _tree(tmp_path / "out")
    with pytest.raises(StepFailed) as info:
        _new(template, tmp_path / "out", force=True, **options)
    assert info.value.step == step and message in info.value.format_message()
    assert info.value.format_message().startswith(f"{step} failed: ")
    assert _tree(tmp_path / "out") == before
    assert sorted(p.name for p in project.iterdir()) == ["notes.txt", "pyproject.toml", "requirements.lock"]


def test_cli_new_names_the_failing_step(template, tmp_path, offline):
    result = CliRunner().invoke(cli, ["new", "demo", "-t", str(template), "-o", str(tmp_path / "out"), "--no-input",
                                      "--no-kernel", "--python", "3.99"])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1
    assert errors[0].startswith("error: create environment failed: Python 3.99 is not installed (found: ")
    assert not (tmp_path / "out").exists()


def test_new_tree_is_the_render_plus_env_locks_and_git_with_shareable_modes(template, tmp_path, offline,
                                                                            monkeypatch):
    # Bytecode would appear if anything imported the project's files: let Python write it.
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (tmp_path / "gitconfig").write_text("[user]\n\tname = Grace Hopper\n\temail = grace@example.org\n")
    old_umask = os.umask(0o022)
    try:
        result = _new(template, tmp_path / "out", git=True)
    finally:
        os.umask(old_umask)
    project = result.project_dir
    from scaffolder.envs.venv.manager import expected_packages

    locks = result.summary["locks"]  # every lock file new reports having written
    assert {"requirements.lock", "requirements-dev.lock"} <= set(locks)
    tree = sorted(str(p.relative_to(project)) for p in project.rglob("*")
                  if p.is_file() and p.relative_to(project).parts[0] not in (".venv", ".git"))
    assert tree == sorted(result.files + locks)
    assert (project / ".venv" / "pyvenv.cfg").is_file() and (project / ".git" / "HEAD").is_file()
    for rel in [*locks, "pyproject.toml"]:
        assert oct((project / rel).stat().st_mode & 0o777) == oct(0o644), rel
    git = ["git", "-C", str(project)]
    assert subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout == ""
    log = subprocess.run([*git, "log", "--format=%an <%ae>"], capture_output=True, text=True).stdout.splitlines()
    assert log == ["Grace Hopper <grace@example.org>"]
    committed = subprocess.run([*git, "ls-files"], capture_output=True, text=True).stdout.split()
    assert sorted(committed) == tree  # the env is ignored, the locks are committed
    assert result.summary["git"]["commit"] == subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True,
                                                             text=True).stdout.strip()
    pins = len(expected_packages(project))  # what the locks put into the env
    assert pins >= 2 and result.summary["packages"] == pins
    assert result.summary["torch"] is None  # the project has no torch
    assert (result.summary["env"], result.summary["env_path"]) == ("venv", str(project / ".venv"))
    assert result.summary["bytecode_compiled"] is False and result.summary["notes"] == []
