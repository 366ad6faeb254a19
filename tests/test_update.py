"""`scaffolder update` across two versions of a real git template, with real git merges."""

import json
import subprocess

import pytest
from click.testing import CliRunner
from conftest import make_template

from scaffolder.cli import cli
from scaffolder.lifecycle.new import NewOptions, create_project
from scaffolder.lifecycle.update import DirtyTree, update_project
from scaffolder.project import Project

CONFIG_V1 = "# settings\nlr = 1\nbatch = 8\n\n# schedule\nwarmup = 10\nepochs = 3\n"
CONFIG_V2 = CONFIG_V1.replace("batch = 8", "batch = 16")


def git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit_all(cwd, message):
    git(cwd, "add", "-A")
    git(cwd, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


@pytest.fixture
def setup(tmp_path):
    tpl = make_template(tmp_path / "tpl", {"config.toml": CONFIG_V1, "pyproject.toml": '[project]\nname = "x"\n',
                                             "gone.txt": "old file\n"})
    git(tpl, "init", "-q")
    v1 = commit_all(tpl, "v1")
    project = create_project(NewOptions(name="proj", template=str(tpl), output_dir=tmp_path / "out")).project_dir
    git(project, "init", "-q")
    commit_all(project, "generated")
    # Template v2: changes one line, adds a file and a question, drops a file.
    (tpl / "{{cookiecutter.project_slug}}" / "config.toml").write_text(CONFIG_V2)
    (tpl / "{{cookiecutter.project_slug}}" / "NEW.md").write_text("owner: {{ cookiecutter.owner }}\n")
    (tpl / "{{cookiecutter.project_slug}}" / "gone.txt").unlink()
    data = json.loads((tpl / "cookiecutter.json").read_text())
    (tpl / "cookiecutter.json").write_text(json.dumps({**data, "owner": "ml-team"}))
    v2 = commit_all(tpl, "v2")
    return tpl, project, v1, v2


def test_newer_template_version_is_reported(setup):
    from scaffolder.lifecycle.update import newer_template_version

    tpl, project, v1, v2 = setup
    assert newer_template_version(Project.load(project)) == v2
    update_project(Project.load(project))
    assert newer_template_version(Project.load(project)) is None


def test_check_reports_a_newer_template(setup, monkeypatch):
    tpl, project, v1, v2 = setup
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["check", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 3 and not report["ok"]
    assert report["checks"]["template"] == [
        f"template {tpl} is at {v2[:12]}, the project has {v1[:12]} (run 'scaffolder update')"
    ]


def test_update_merges_and_keeps_user_edits(setup):
    tpl, project, v1, v2 = setup
    assert Project.load(project).recorded["template_version"] == v1
    config = project / "config.toml"
    config.write_text(config.read_text().replace("epochs = 3", "epochs = 30"))  # the user's edit
    base = commit_all(project, "more epochs")
    result = update_project(Project.load(project))
    assert (result.from_version, result.to_version) == (v1, v2)
    assert result.git_base == f"{git(project, 'rev-parse', '--short', base)} more epochs"  # the clean start
    assert config.read_text() == CONFIG_V2.replace("epochs = 3", "epochs = 30")
    assert (project / "NEW.md").read_text() == "owner: ml-team\n"
    assert not (project / "gone.txt").exists()
    assert result.conflicts == [] and result.added == ["NEW.md"] and result.removed == ["gone.txt"]
    settings = Project.load(project).recorded
    assert settings["template_version"] == v2 and settings["answers"]["owner"] == "ml-team"
    assert update_project(Project.load(project), allow_dirty=True).up_to_date
    assert update_project(Project.load(project), allow_dirty=True).git_base is None  # no clean base checked


def test_conflict_leaves_markers_and_exits_4(setup, monkeypatch):
    tpl, project, v1, v2 = setup
    config = project / "config.toml"
    config.write_text(CONFIG_V1.replace("batch = 8", "batch = 32"))
    commit_all(project, "bigger batch")
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["update", "--no-input"])
    assert result.exit_code == 4, result.output  # merge conflicts; 3 is check's drift
    assert "error: 1 file(s) have conflicts (resolve the <<<<<<< markers, then commit)" in result.stderr
    assert "CONFLICT: config.toml" in result.stdout
    assert f"clean base: {git(project, 'log', '-1', '--format=%h')} bigger batch" in result.stdout
    text = config.read_text()
    assert "<<<<<<< yours" in text and "batch = 32" in text and "batch = 16" in text


def test_dirty_tree_is_refused_and_untouched(setup):
    tpl, project, v1, v2 = setup
    (project / "config.toml").write_text("edited but not committed\n")
    with pytest.raises(DirtyTree, match="--allow-dirty"):
        update_project(Project.load(project))
    assert (project / "config.toml").read_text() == "edited but not committed\n"
    assert Project.load(project).recorded["template_version"] == v1


def test_update_to_an_older_ref_and_dry_run(setup):
    tpl, project, v1, v2 = setup
    result = update_project(Project.load(project), to=v2, dry_run=True)
    assert result.added == ["NEW.md"] and not (project / "NEW.md").exists()
    assert update_project(Project.load(project), to=v1).up_to_date


def test_update_checkout_moves_to_a_ref(setup, monkeypatch):
    tpl, project, v1, v2 = setup
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["update", "--checkout", v1, "--no-input"])
    assert result.exit_code == 0, result.output
    assert f"up to date with {tpl} ({v1})" in result.stdout and "note:" not in result.stderr
    assert "--to" not in CliRunner().invoke(cli, ["update", "--help"]).stdout  # the old name is hidden


def test_update_to_still_works_with_a_note(setup, monkeypatch):
    tpl, project, v1, v2 = setup
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["update", "--to", v2, "--dry-run", "--no-input"])
    assert result.exit_code == 0, result.output
    assert f"would update {v1[:12]} -> {v2[:12]}" in result.stdout
    note = "note: --to is deprecated, use --checkout (--to will be removed in the next release)"
    assert [line for line in result.stderr.splitlines() if line.startswith("note:")] == [note]
    both = CliRunner().invoke(cli, ["update", "--to", v2, "--checkout", v2, "--dry-run"])
    assert both.exit_code == 2 and "--to and --checkout exclude each other" in both.stderr


def test_changed_dependencies_are_relocked(tmp_path, monkeypatch):
    import os

    import wheelhouse as wh

    from scaffolder.locks import lockfile

    files, _ = wh.build_standard_index(tmp_path / "index")
    for key, value in wh.offline_environ(dict(os.environ), find_links=files).items():
        monkeypatch.setenv(key, value)
    offline = wh.offline_environ({}, find_links=files)
    for key in [k for k in os.environ if k.startswith(("PIP_", "UV_")) and k not in offline]:
        monkeypatch.delenv(key)
    pyproject = '[project]\nname = "{{ cookiecutter.project_slug }}"\nversion = "0.1.0"\ndependencies = ["sc-gamma"]\n'
    tpl = make_template(tmp_path / "tpl", {"pyproject.toml": pyproject})
    git(tpl, "init", "-q")
    commit_all(tpl, "v1")
    project = create_project(NewOptions(name="proj", template=str(tpl), output_dir=tmp_path / "out")).project_dir
    monkeypatch.chdir(project)
    assert CliRunner().invoke(cli, ["lock"]).exit_code == 0
    assert "sc-gamma" in lockfile.read(project / "requirements.lock").versions()
    git(project, "init", "-q")
    commit_all(project, "generated")
    (tpl / "{{cookiecutter.project_slug}}" / "pyproject.toml").write_text(pyproject.replace("sc-gamma", "sc-alpha"))
    commit_all(tpl, "v2: alpha instead of gamma")
    result = update_project(Project.load(project))
    assert result.dependencies_changed and result.relocked
    versions = lockfile.read(project / "requirements.lock").versions()
    assert versions["sc-alpha"] == "2.0" and "sc-gamma" not in versions
