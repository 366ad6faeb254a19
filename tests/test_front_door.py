"""What a person sees of `scaffolder new`: live progress in a terminal, the summary and next steps, and the
git repository it starts with. Real git, a real pseudo-terminal, real uv against the local test index."""

import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import REPO, make_template
from terminal import converse

from scaffolder.cli import cli

pytest_plugins = ["envfixtures"]

IDENTITY = "[user]\n\tname = Grace Hopper\n\temail = grace@example.org\n"
PYPROJECT = '[project]\nname = "{{ cookiecutter.project_slug }}"\nversion = "0.1.0"\ndependencies = ["sc-alpha"]\n'


@pytest.fixture
def git_config(tmp_path, monkeypatch):
    """This test's git configuration, not the machine's; returns a function that sets its text."""
    config = tmp_path / "gitconfig"
    config.write_text(IDENTITY)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_DIR"):
        monkeypatch.delenv(key, raising=False)
    return config.write_text


def _git(project, *args):
    return subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True)


def _new(tmp_path, *args, verbose=()):
    return CliRunner().invoke(cli, [*verbose, "new", "demo", "-t", "minimal", "-o", str(tmp_path / "out"), "--no-input",
                                    "--env", "none", *args])


def test_new_is_a_git_repository_with_one_commit_and_a_clean_status(tmp_path, git_config):
    result = _new(tmp_path)
    assert result.exit_code == 0, result.output
    project = tmp_path / "out" / "demo"
    assert _git(project, "log", "--format=%an <%ae>|%s").stdout.splitlines() == [
        "Grace Hopper <grace@example.org>|Generate from builtin:minimal (0.1.0) with scaffolder"]
    assert _git(project, "status", "--porcelain").stdout == ""
    assert "src/demo/__init__.py" in _git(project, "ls-files").stdout.split()


def test_without_a_git_identity_the_repository_is_made_and_the_commit_skipped(tmp_path, git_config):
    git_config("")
    result = _new(tmp_path)
    assert result.exit_code == 0, result.output
    project = tmp_path / "out" / "demo"
    assert (project / ".git").is_dir()
    assert _git(project, "rev-parse", "--verify", "HEAD").returncode != 0  # no commit
    assert "warning: git has no user.name or user.email, so nothing was committed" in result.stderr


def test_inside_a_repository_or_with_no_git_no_repository_is_made(tmp_path, git_config):
    outer = tmp_path / "mono"
    outer.mkdir()
    assert _git(outer, "init", "-q").returncode == 0
    result = CliRunner().invoke(cli, ["new", "demo", "-t", "minimal", "-o", str(outer), "--no-input", "--env",
                                      "none", "--json"])
    assert result.exit_code == 0, result.output
    assert not (outer / "demo" / ".git").exists()
    git = json.loads(result.stdout)["summary"]["git"]
    assert git["initialized"] is False and f"inside the git repository {outer}" in git["note"]
    result = _new(tmp_path, "--no-git")
    assert result.exit_code == 0 and not (tmp_path / "out" / "demo" / ".git").exists()


def test_json_has_the_summary_and_the_templates_next_steps(tmp_path, git_config):
    result = _new(tmp_path, "--json", verbose=["-v"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout is the JSON alone, even with -v
    summary = data["summary"]
    assert summary["project"] == str(tmp_path / "out" / "demo")
    assert summary["git"]["commit"] == _git(tmp_path / "out" / "demo", "rev-parse", "HEAD").stdout.strip()
    assert summary["env_path"] is None and summary["torch"] is None and summary["seconds"] > 0
    assert data["next_steps"] == ["pytest", "ruff check .", "nox -s tests lint"]  # minimal's _next_steps


def test_a_template_without_next_steps_gets_generic_ones_with_answers_filled_in(tmp_path, git_config):
    from scaffolder.lifecycle.summary import GENERIC_NEXT_STEPS

    plain = make_template(tmp_path / "plain", {"a.txt": "x"})
    declared = make_template(tmp_path / "declared", {"a.txt": "x"},
                             {"_next_steps": ["make {project_slug}", "echo {nope}", "b", "fourth is dropped"]})
    shown = []
    for tpl in (plain, declared):
        result = CliRunner().invoke(cli, ["new", "my-app", "-t", str(tpl), "-o", str(tmp_path / tpl.name),
                                          "--no-input", "--env", "none", "--json"])
        assert result.exit_code == 0, result.output
        shown.append(json.loads(result.stdout)["next_steps"])
    assert shown == [GENERIC_NEXT_STEPS, ["make my-app", "echo {nope}", "b"]]


def test_plain_output_keeps_step_lines_and_puts_timings_last_with_v(tmp_path, git_config):
    result = _new(tmp_path, verbose=["-v"])
    assert result.exit_code == 0, result.output
    err = result.stderr.splitlines()
    assert "==> git init and first commit" in err
    timings = err.index("timings:")
    assert timings > max(i for i, line in enumerate(err) if line.startswith("==> "))  # after every step
    timed = [re.sub(r"^\s+[\d.]+s\s+", "", line) for line in err[timings + 1:timings + 3]]
    assert timed == ["render builtin:minimal", "git init and first commit"]
    assert err[timings + 3].startswith("Created demo from builtin:minimal in ")
    assert "Next steps:" in err and result.stdout == str(tmp_path / "out" / "demo") + "\n"
    assert "\x1b[" not in result.output


def test_in_a_terminal_install_shows_a_live_status_then_a_summary(tmp_path, offline, git_config):
    tpl = make_template(tmp_path / "tpl", {"pyproject.toml": PYPROJECT})
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "PYTHONPATH": str(REPO),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("NO_COLOR", None)
    code, shown, _ = converse([sys.executable, "-m", "scaffolder", "new", "demo", "-t", str(tpl), "--no-input",
                               "--no-kernel", "-o", "out"], [], env, tmp_path, timeout=120)
    assert code == 0, shown
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    # rich's live line: spinner, step, elapsed time (h:mm:ss), while the step runs; then a tick line
    assert re.search(r"install packages\s+0:00:\d\d", plain), plain
    assert re.search(r"✓ install packages \(\d+\.\ds\)", plain), plain
    assert "==> " not in plain
    tail = plain[plain.index("Created demo"):]
    assert "Python 3." in tail and re.search(r"locked   2 packages \(requirements\.lock\b[^)]*\)", tail), tail
    assert re.search(r"Next steps:\n  cd out/demo\n  source \.venv/bin/activate\n  scaffolder check", tail), tail
    assert "note     PYTHONDONTWRITEBYTECODE is set, so Python never caches bytecode here" in tail


@pytest.mark.parametrize("flag, compiled", [([], False), (["--compile-bytecode"], True)])
def test_bytecode_is_compiled_only_when_asked(tmp_path, offline, git_config, monkeypatch, flag, compiled):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("SCAFFOLDER_COMPILE_BYTECODE", raising=False)
    tpl = make_template(tmp_path / "tpl", {"pyproject.toml": PYPROJECT})
    result = CliRunner().invoke(cli, ["new", "demo", "-t", str(tpl), "-o", str(tmp_path / "out"), "--no-input",
                                      "--no-kernel", "--json", *flag])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    site = next((tmp_path / "out" / "demo" / ".venv" / "lib").glob("python*/site-packages"))
    assert bool(list((site / "sc_alpha").glob("__pycache__/*.pyc"))) == compiled == summary["bytecode_compiled"]
    assert bool(summary["notes"]) != compiled  # the note says how to compile later


def test_installer_lines_move_beside_the_running_step_and_errors_still_read_them():
    from scaffolder.console import Reporter
    from scaffolder.errors import EnvError
    from scaffolder.tools import run

    reporter = Reporter(live=True)
    assert reporter.output_sink() is None  # no step running: tools capture their output as before
    script = "import sys; print('Downloading torch (180.0MiB)'); print(' + torch==2.13.0', flush=True); "
    with reporter.step("install packages"):
        sink = reporter.output_sink()
        proc = run([sys.executable, "-c", script], what="installing", error=EnvError, on_line=sink)
        task = reporter._progress.tasks[-1]
        assert (task.description, task.fields["detail"]) == ("install packages", "+ torch==2.13.0")
        assert proc.stdout.splitlines() == ["Downloading torch (180.0MiB)", " + torch==2.13.0"]
        with pytest.raises(EnvError, match=r"^installing: .*no space left on device"):
            run([sys.executable, "-c", "import sys; sys.exit('ERROR: no space left on device')"], what="installing",
                error=EnvError, on_line=reporter.output_sink())
    assert reporter._progress is None and reporter.timings[0][0] == "install packages"
    assert reporter.lines[0] in ("✓ install packages", "ok install packages")  # ok: a terminal without UTF-8
