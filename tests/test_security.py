"""Attacks an outside template can make, each planted for real and run through the real CLI (issue 12).

Without --trust every one must end in a single ``error: ...`` line on stderr, a non-zero exit, no marker
file, and nothing left behind: no output directory and no temporary files. Where --trust (or a flag) is
meant to let the template through, the same plant is run again and must do what it was built to do, so
that each refusal is shown to stop a working attack.
"""

from __future__ import annotations

import http.server
import json
import os
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, make_template

ESCAPE = "{{ cycler.__init__.__globals__.os.system('touch pwned') }}"
EXTENSION = (
    "from pathlib import Path\n"
    "from jinja2.ext import Extension\n"
    "Path('pwned').write_text('imported')\n"
    "class Ext(Extension):\n"
    "    pass\n"
)
HOOK = "from pathlib import Path\nPath('hook-ran').write_text('yes')\n"


def hook_marking(marker: Path) -> str:
    """A hook that leaves ``marker`` (absolute: cookiecutter runs hooks inside a directory that goes away)."""
    return f"from pathlib import Path\nPath({str(marker)!r}).write_text('yes')\n"


class Run:
    """``scaffolder -q ARGS`` in a subprocess, from ``cwd``, with its own TMPDIR to show what is left behind."""

    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path / "cwd"
        self.tmp = tmp_path / "tmpdir"
        self.cwd.mkdir()
        self.tmp.mkdir()
        self.out = tmp_path / "out"

    def __call__(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "TMPDIR": str(self.tmp), "PYTHONPATH": str(REPO), "NO_PROXY": "127.0.0.1,localhost"}
        return subprocess.run([sys.executable, "-m", "scaffolder", "-q", *args], cwd=cwd or self.cwd, env=env,
                              capture_output=True, text=True, timeout=120)

    def new(self, template: str | Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return self("new", "demo", "-t", str(template), "--no-input", "--env", "none", "-o", str(self.out), *args,
                    cwd=cwd)

    def refused(self, proc: subprocess.CompletedProcess, *mentions: str, exit_code: int | None = None) -> str:
        """One error line that says ``mentions``; no marker, no output, no temporary files."""
        assert proc.returncode != 0, proc.stdout
        if exit_code is not None:
            assert proc.returncode == exit_code, proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
        for text in mentions:
            assert text in lines[0], lines[0]
        self.nothing_ran()
        assert not self.out.exists(), sorted(self.out.rglob("*"))
        assert list(self.tmp.iterdir()) == []
        return lines[0]

    def nothing_ran(self) -> None:
        assert not (self.cwd / "pwned").exists()
        assert not list(self.cwd.parent.rglob("pwned"))


@pytest.fixture
def run(tmp_path) -> Run:
    return Run(tmp_path)


@pytest.fixture
def secret(tmp_path) -> Path:
    """Stands in for ~/.ssh/id_rsa: a file of the user's that no template may copy."""
    key = tmp_path / "home" / ".ssh" / "id_rsa"
    key.parent.mkdir(parents=True)
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    return key


# Jinja escapes: file contents, path names and cookiecutter.json are all rendered sandboxed.

@pytest.mark.parametrize("where", ["content", "path", "variable"])
def test_jinja_escape_is_refused_by_the_sandbox(run, tmp_path, where):
    if where == "content":
        tpl = make_template(tmp_path / "tpl", {"a.txt": ESCAPE})
    elif where == "path":
        tpl = make_template(tmp_path / "tpl", {ESCAPE + ".txt": "x"})
    else:
        tpl = make_template(tmp_path / "tpl", {"a.txt": "{{ cookiecutter.extra }}"}, {"extra": ESCAPE})
    run.refused(run.new(tpl), "sandbox refuses", "--trust renders it unsandboxed", exit_code=1)
    # The plant is real: trusted, the same template runs the command.
    proc = run.new(tpl, "--trust")
    assert list(tmp_path.rglob("pwned")), proc.stderr  # cookiecutter renders from inside the template


# Symlinks that leave the template.

def _link(path: Path, target: Path | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def test_outside_symlink_is_refused_even_with_trust(run, tmp_path, secret):
    tpl = make_template(tmp_path / "tpl", {"README.md": "hi"})
    _link(tpl / "{{cookiecutter.project_slug}}" / "id_rsa", secret)
    for extra in ((), ("--trust",)):
        line = run.refused(run.new(tpl, *extra), "'{{cookiecutter.project_slug}}/id_rsa'", str(secret),
                           "--allow-outside-links", exit_code=1)
        assert "PRIVATE KEY" not in line
    proc = run.new(tpl, "--allow-outside-links")
    assert proc.returncode == 0, proc.stderr
    assert (run.out / "demo" / "id_rsa").read_text() == secret.read_text()  # what the flag lets through


@pytest.mark.parametrize("where", ["relative", "directory", "template root", "via an inside link"])
def test_outside_links_anywhere_in_the_template_are_refused(run, tmp_path, secret, where):
    tpl = make_template(tmp_path / "tpl", {"README.md": "hi"})
    project = tpl / "{{cookiecutter.project_slug}}"
    if where == "relative":
        _link(project / "key", os.path.relpath(secret, project))
    elif where == "directory":
        _link(project / "ssh", secret.parent)
    elif where == "template root":  # not in the project directory, but `{% include %}` can read it
        _link(tpl / "included.txt", secret)
        (project / "README.md").write_text("{% include 'included.txt' %}")
    else:
        _link(tpl / "outside", secret)
        _link(project / "key", "../outside")
    run.refused(run.new(tpl), "points outside the template", "--allow-outside-links")


def test_links_inside_the_template_render_as_cookiecutter_does(run, tmp_path):
    tpl = make_template(tmp_path / "tpl", {"LICENSE": "MIT for {{ cookiecutter.project_name }}"})
    _link(tpl / "{{cookiecutter.project_slug}}" / "COPYING", "LICENSE")
    proc = run.new(tpl)
    assert proc.returncode == 0, proc.stderr
    cookiecutter_out = tmp_path / "cc"
    from cookiecutter.main import cookiecutter

    cookiecutter(str(tpl), no_input=True, output_dir=str(cookiecutter_out))
    for name in ("LICENSE", "COPYING"):
        ours, theirs = run.out / "demo" / name, cookiecutter_out / "demo" / name
        assert ours.is_symlink() == theirs.is_symlink()
        assert ours.read_text() == theirs.read_text() == "MIT for demo"


# Local extensions are code.

def test_local_extension_is_not_imported_without_trust(run, tmp_path):
    tpl = make_template(tmp_path / "tpl", {"a.txt": "x"}, {"_extensions": ["local_ext.Ext"]})
    (tpl / "local_ext.py").write_text(EXTENSION)
    run.refused(run.new(tpl), "loads extension local_ext.Ext", "--trust", exit_code=1)
    # A template run from its own directory: its module sits on sys.path there, and still is not imported.
    proc = run.new(tpl, cwd=tpl)
    assert proc.returncode == 1 and not (tpl / "pwned").exists()
    dry = run.new(tpl, "--dry-run")
    assert dry.returncode == 0 and "template loads extension local_ext.Ext (needs --trust)" in dry.stdout
    run.nothing_ran()
    proc = run.new(tpl, "--trust")
    assert proc.returncode == 0, proc.stderr
    assert (run.cwd / "pwned").read_text() == "imported"


# Zip templates.

def _zip(path: Path, members: dict[str, str], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("tpl/", "")
        archive.writestr("tpl/cookiecutter.json", json.dumps({"project_name": "demo"}))
        for name, text in members.items():
            archive.writestr(name, text)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # unix, where the mode bits say "symlink"
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


PLAIN = {"tpl/{{cookiecutter.project_name}}/a.txt": "hi"}


def test_zip_with_a_symlink_member_is_refused(run, tmp_path, secret):
    bad = _zip(tmp_path / "link.zip", PLAIN, links={"tpl/{{cookiecutter.project_name}}/id_rsa": str(secret)})
    run.refused(run.new(bad), "symlink member", "id_rsa")
    good = _zip(tmp_path / "good.zip", PLAIN)
    proc = run.new(good)
    assert proc.returncode == 0, proc.stderr
    assert list(run.tmp.iterdir()) == []  # cookiecutter's unpacked copy is gone too


@pytest.mark.parametrize("member", ["tpl/../../pwned", "../pwned", "/tmp/pwned", "tpl/..\\..\\pwned"])
def test_zip_member_outside_the_template_is_refused(run, tmp_path, member):
    bad = _zip(tmp_path / "dots.zip", {**PLAIN, member: "x"})
    run.refused(run.new(bad), repr(member), "outside the template")


def test_zip_from_a_url_is_checked_after_download(run, tmp_path, secret):
    served = tmp_path / "served"
    served.mkdir()
    _zip(served / "link.zip", PLAIN, links={"tpl/{{cookiecutter.project_name}}/id_rsa": str(secret)})
    _zip(served / "good.zip", PLAIN)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        run.refused(run.new(f"{base}/link.zip"), "symlink member")
        proc = run.new(f"{base}/good.zip")
        assert proc.returncode == 0, proc.stderr
        assert (run.out / "demo" / "a.txt").read_text() == "hi"
    finally:
        server.shutdown()
        server.server_close()


# Arguments that reach git.

def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout.strip()


def _commit(cwd: Path, message: str) -> str:
    _git(cwd, "add", "-A")
    _git(cwd, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
    return _git(cwd, "rev-parse", "HEAD")


def _git_template(tmp_path: Path) -> Path:
    tpl = make_template(tmp_path / "tpl", {"a.txt": "x"})
    _git(tpl, "init", "-q")
    _commit(tpl, "v1")
    return tpl


@pytest.mark.parametrize("ref", ["-x", "--orphan=pwned", "--upload-pack=touch pwned"])
def test_ref_starting_with_dash_is_refused(run, tmp_path, ref):
    tpl = _git_template(tmp_path)
    run.refused(run.new(tpl, f"--checkout={ref}"), repr(ref), "starts with '-'", exit_code=2)
    run.refused(run.new(tpl, f"--checkout={ref}", "--trust"), "starts with '-'", exit_code=2)
    proc = run.new(tpl, f"--checkout={_branch(tpl)}")
    assert proc.returncode == 0, proc.stderr


def _branch(repo: Path) -> str:
    return _git(repo, "branch", "--show-current")


def test_source_starting_with_dash_is_refused(run, tmp_path):
    (run.cwd / "-tpl").mkdir()
    make_template(run.cwd / "-tpl", {"a.txt": "x"})
    run.refused(run.new("-tpl"), "'-tpl'", "./-tpl", exit_code=2)
    proc = run.new("./-tpl")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("source", ["ext::sh -c touch% pwned", "git+ext::sh -c touch% pwned",
                                    "EXT::sh -c touch% pwned .git", "file::/etc"])
def test_risky_git_transports_need_trust(run, source):
    transport = source.split("::")[0].split("+")[-1].lower()
    run.refused(run.new(source), f"{transport}:: transport", "--trust", exit_code=2)
    # --trust lifts the check (cookiecutter itself then finds no repository there).
    proc = run.new(source, "--trust")
    assert proc.returncode != 0 and f"{transport}:: transport" not in proc.stderr


def test_abbreviation_expanding_to_ext_is_refused(run, tmp_path, _isolated_home):
    rc = _isolated_home / "cookiecutterrc"
    rc.write_text(rc.read_text() + "abbreviations:\n  evil: 'ext::sh -c touch% {0}'\n")
    run.refused(run.new("evil:pwned"), "ext:: transport", exit_code=2)


# Team policy: trusted templates.

def test_policy_trusted_templates_run_hooks_without_trust(run, tmp_path, _isolated_home):
    tpl = make_template(tmp_path / "tpl", {"a.txt": "x"}, hooks={"post_gen_project.py": HOOK})
    config = _isolated_home / "scaffolder.toml"
    config.write_text(f'[policy]\ntrusted_templates = ["{tpl.resolve().parent}/other*"]\n')
    run.refused(run.new(tpl), "runs hooks: post_gen_project.py", "--trust")
    config.write_text(f'[policy]\ntrusted_templates = ["{tpl.resolve().parent}/tp*"]\n')
    proc = run.new(tpl)
    assert proc.returncode == 0, proc.stderr
    assert (run.out / "demo" / "hook-ran").read_text() == "yes"


def test_policy_trust_does_not_allow_outside_links(run, tmp_path, secret, _isolated_home):
    tpl = make_template(tmp_path / "tpl", {"a.txt": "x"})
    _link(tpl / "{{cookiecutter.project_slug}}" / "id_rsa", secret)
    (_isolated_home / "scaffolder.toml").write_text('[policy]\ntrusted_templates = ["*"]\n')
    run.refused(run.new(tpl), "--allow-outside-links")


# update: a newer version is judged again.

@pytest.fixture
def updatable(run, tmp_path):
    """A project made from v1 of a plain local git template; returns (template, project)."""
    tpl = _git_template(tmp_path)
    proc = run.new(tpl)
    assert proc.returncode == 0, proc.stderr
    project = run.out / "demo"
    if not (project / ".git").exists():  # `new` may have made the first commit already
        _git(project, "init", "-q")
        _commit(project, "generated")
    assert _git(project, "status", "--porcelain") == ""
    return tpl, project


def _update_refused(run, project: Path, proc, *mentions: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    for text in mentions:
        assert text in lines[0], lines[0]
    run.nothing_ran()
    assert _git(project, "status", "--porcelain") == ""  # nothing written into the project
    assert list(run.tmp.iterdir()) == []


def test_update_to_a_version_that_gains_an_extension_asks_for_trust(run, updatable):
    tpl, project = updatable
    data = json.loads((tpl / "cookiecutter.json").read_text())
    (tpl / "cookiecutter.json").write_text(json.dumps({**data, "_extensions": ["local_ext.Ext"]}))
    (tpl / "local_ext.py").write_text(EXTENSION)
    (tpl / "{{cookiecutter.project_slug}}" / "b.txt").write_text("new\n")
    _commit(tpl, "v2")
    _update_refused(run, project, run("update", "--no-input", cwd=project), "loads extension local_ext.Ext",
                    "--trust")
    proc = run("update", "--no-input", "--trust", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert (project / "b.txt").read_text() == "new\n" and (project / "pwned").read_text() == "imported"


def test_update_to_a_version_that_gains_hooks_asks_for_trust_and_never_runs_them(run, updatable, tmp_path):
    tpl, project = updatable
    (tpl / "hooks").mkdir()
    (tpl / "hooks" / "post_gen_project.py").write_text(hook_marking(tmp_path / "hook-ran"))
    _commit(tpl, "v2")
    _update_refused(run, project, run("update", "--no-input", cwd=project), "runs hooks: post_gen_project.py")
    proc = run("update", "--no-input", "--trust", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "hook-ran").exists()
    # The plant is real: `new` from the same template, trusted, runs it.
    proc = run("new", "again", "-t", str(tpl), "--no-input", "--env", "none", "-o", str(tmp_path / "o2"), "--trust")
    assert proc.returncode == 0 and (tmp_path / "hook-ran").exists(), proc.stderr


def test_update_to_a_version_that_gains_an_outside_link_is_refused(run, updatable, secret):
    tpl, project = updatable
    _link(tpl / "{{cookiecutter.project_slug}}" / "id_rsa", secret)
    _commit(tpl, "v2")
    for extra in ((), ("--trust",)):
        _update_refused(run, project, run("update", "--no-input", *extra, cwd=project), "'{{cookiecutter"
                        ".project_slug}}/id_rsa'", "--allow-outside-links")
    proc = run("update", "--no-input", "--allow-outside-links", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert (project / "id_rsa").read_text() == secret.read_text()


def test_update_renders_sandboxed(run, updatable):
    tpl, project = updatable
    (tpl / "{{cookiecutter.project_slug}}" / "a.txt").write_text(ESCAPE)
    _commit(tpl, "v2")
    _update_refused(run, project, run("update", "--no-input", cwd=project), "sandbox refuses")


def test_update_refuses_a_ref_starting_with_dash(run, updatable):
    tpl, project = updatable
    _update_refused(run, project, run("update", "--checkout=--orphan=x", "--no-input", cwd=project), "starts with '-'")


def test_update_asks_at_the_prompt_and_a_no_refuses(run, updatable, tmp_path):
    from scaffolder.errors import UntrustedTemplate
    from scaffolder.lifecycle.update import update_project
    from scaffolder.project import Project

    tpl, project = updatable
    (tpl / "hooks").mkdir()
    (tpl / "hooks" / "pre_gen_project.py").write_text(hook_marking(tmp_path / "hook-ran"))
    _commit(tpl, "v2")
    asked = []
    with pytest.raises(UntrustedTemplate, match="runs hooks: pre_gen_project.py"):
        update_project(Project.load(project), confirm_trust=lambda f: asked.append(f.runs_code()) or False)
    assert asked == [["runs hooks: pre_gen_project.py"]]
    assert _git(project, "status", "--porcelain") == ""
    result = update_project(Project.load(project), confirm_trust=lambda f: asked.append(f.runs_code()) or True)
    assert result.to_version == _git(tpl, "rev-parse", "HEAD") and len(asked) == 2
    assert not (tmp_path / "hook-ran").exists()  # trusted or not, update runs no hook
