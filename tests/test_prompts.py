"""Interactive `new` in a real pseudo-terminal: it asks only what NAME, --set and the template do not answer."""

import os
import sys

from conftest import make_template
from terminal import converse

VARIABLES = {
    "project_name": "Demo",
    "project_slug": "{{ cookiecutter.project_name|lower|replace(' ', '-') }}",
    "author_name": "Nobody",
    "email": "nobody@example.org",
    "license": ["MIT", "BSD"],
    "year": "2024",
}
FILES = {"about.txt": "{{ cookiecutter.project_name }}|{{ cookiecutter.author_name }}|{{ cookiecutter.email }}"
                      "|{{ cookiecutter.license }}|{{ cookiecutter.year }}"}


def _env(tmp_path, gitconfig: str | None) -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}
    config = tmp_path / "gitconfig"
    config.write_text(gitconfig or "")
    env["GIT_CONFIG_GLOBAL"] = str(config)  # this test's git identity, not the machine's
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def _new(*args):
    return [sys.executable, "-m", "scaffolder", "new", *args, "--env", "none", "-o", "out"]


def test_asks_only_what_is_not_answered_and_takes_author_from_git(tmp_path):
    tpl = make_template(tmp_path / "tpl", FILES, VARIABLES)
    env = _env(tmp_path, "[user]\n\tname = Grace Hopper\n\temail = grace@example.org\n")
    code, shown, unasked = converse(
        _new("My Lib", "-t", str(tpl), "--trust", "--set", "year=2031"),
        [(r"author_name \(Grace Hopper\)", ""), (r"email \(grace@example.org\)", ""), (r"Choose from", "2")],
        env, tmp_path)
    assert code == 0, shown
    assert not unasked, shown
    for never_asked in ("project_name", "project_slug", "year"):
        assert never_asked not in shown, shown
    about = (tmp_path / "out" / "my-lib" / "about.txt").read_text()
    assert about == "My Lib|Grace Hopper|grace@example.org|BSD|2031"


def test_without_git_identity_the_template_defaults_stand(tmp_path):
    tpl = make_template(tmp_path / "tpl", FILES, VARIABLES)
    code, shown, unasked = converse(
        _new("x", "-t", str(tpl)),
        [(r"author_name \(Nobody\)", "Ada"), (r"email \(nobody@example.org\)", ""), (r"Choose from", ""),
         (r"year \(2024\)", "")],
        _env(tmp_path, None), tmp_path)
    assert code == 0 and not unasked, shown
    assert (tmp_path / "out" / "x" / "about.txt").read_text() == "x|Ada|nobody@example.org|MIT|2024"


def test_name_is_asked_in_a_terminal_and_required_elsewhere(tmp_path):
    tpl = make_template(tmp_path / "tpl", FILES, VARIABLES)
    code, shown, unasked = converse(_new("-t", str(tpl), "--set", "year=1", "--set", "license=MIT"),
                                    [(r"Project name", "  Asked Name "), (r"author_name", ""), (r"email", "")],
                                    _env(tmp_path, None), tmp_path)
    assert code == 0 and not unasked, shown
    assert (tmp_path / "out" / "asked-name" / "about.txt").read_text().startswith("Asked Name|")

    import subprocess

    proc = subprocess.run(_new("-t", str(tpl), "--no-input"), cwd=tmp_path, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert "Missing argument 'NAME'" in proc.stderr and "Traceback" not in proc.stderr
