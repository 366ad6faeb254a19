import json

import pytest
from click.testing import CliRunner

from scaffolder import config
from scaffolder.cli import cli
from scaffolder.errors import UsageError
from scaffolder.lifecycle.new import NewOptions, create_project
from scaffolder.project import Project


@pytest.fixture
def team_file(_isolated_home):
    path = _isolated_home / "scaffolder.toml"  # conftest points SCAFFOLDER_CONFIG here
    path.write_text(
        'template = "minimal"\npython = "3.10"\ninstaller = "pip"\n'
        '[torch_index]\ncu126 = "https://mirror.example/cu126"\n'
        '[policy]\nallowed_templates = ["builtin:*", "plugin:*"]\n'
    )
    return path


def test_precedence_cli_env_project_file(team_file, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.scaffolder]\npython = "3.12"\ninstaller = "uv"\n')
    project = Project.load(tmp_path)
    monkeypatch.setenv("SCAFFOLDER_INSTALLER", "pip")
    monkeypatch.setenv("SCAFFOLDER_TORCH_INDEX_CPU", "https://mirror.example/cpu")
    settings = config.load(cli={"torch": "cu126", "env": None}, project=project)
    assert (settings.get("template"), settings.source("template")) == ("minimal", f"file:{team_file}")
    assert (settings.get("python"), settings.source("python")) == ("3.12", f"project:{project.pyproject_path}")
    assert (settings.get("installer"), settings.source("installer")) == ("pip", "env:SCAFFOLDER_INSTALLER")
    assert (settings.get("torch"), settings.source("torch")) == ("cu126", "cli")
    assert (settings.get("env"), settings.source("env")) == ("venv", "default")
    assert settings.torch_indexes() == {"cu126": "https://mirror.example/cu126", "cpu": "https://mirror.example/cpu"}


def test_team_default_template_is_used(team_file, tmp_path):
    result = create_project(NewOptions(name="team-proj", output_dir=tmp_path))
    assert result.template == "builtin:minimal"


def test_policy_refuses_outside_template_before_writing(team_file, tmp_path):
    from conftest import make_template

    tpl = make_template(tmp_path / "tpl", {"a.txt": "x"})
    with pytest.raises(config.PolicyError, match="not allowed by the team policy"):
        create_project(NewOptions(name="p", template=str(tpl), output_dir=tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_unknown_key_in_file_is_a_usage_error(_isolated_home):
    (_isolated_home / "scaffolder.toml").write_text('tempalte = "x"\n')
    with pytest.raises(UsageError, match="tempalte"):
        config.load()


def test_config_show_json(team_file):
    result = CliRunner().invoke(cli, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["settings"]["template"] == {"value": "minimal", "source": f"file:{team_file}"}
    text = CliRunner().invoke(cli, ["config", "show"]).stdout
    assert "installer = 'pip'  # file:" in text


def _notes(text):
    return [line for line in text.splitlines() if line.startswith("note:")]


def test_scaffolder_backend_still_works_with_one_note(monkeypatch, capsys):
    monkeypatch.setenv("SCAFFOLDER_BACKEND", "conda")
    settings = config.load()
    config.load()  # a command loads its settings more than once; the note shows once
    assert (settings.get("env"), settings.source("env")) == ("conda", "env:SCAFFOLDER_BACKEND")
    assert _notes(capsys.readouterr().err) == [
        "note: SCAFFOLDER_BACKEND is deprecated, use SCAFFOLDER_ENV "
        "(SCAFFOLDER_BACKEND will be removed in the next release)"]
    monkeypatch.setenv("SCAFFOLDER_ENV", "venv")  # the new name wins
    assert (config.load().get("env"), config.load().source("env")) == ("venv", "env:SCAFFOLDER_ENV")


def test_backend_in_the_team_file_still_works_with_one_note(_isolated_home, capsys):
    path = _isolated_home / "scaffolder.toml"
    path.write_text('backend = "conda"\n')
    settings = config.load()
    config.load()
    assert (settings.get("env"), settings.source("env")) == ("conda", f"file:{path}")
    assert _notes(capsys.readouterr().err) == [
        f"note: backend in {path} is deprecated, use env (backend in {path} will be removed in the next release)"]
    path.write_text('env = "venv"\n')
    assert config.load().get("env") == "venv" and _notes(capsys.readouterr().err) == []
