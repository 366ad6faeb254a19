import pytest

from scaffolder.errors import ProjectNotFound, UsageError
from scaffolder.project import Project, write_recorded


def test_find_walks_up_and_update_keeps_formatting(tmp_path):
    text = '[project]\nname = "p"  # keep me\n\n[tool.scaffolder]\ntemplate = "builtin:minimal"\n'
    (tmp_path / "pyproject.toml").write_text(text)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    project = Project.find(deep)
    assert project.root == tmp_path and project.recorded["template"] == "builtin:minimal"
    project.record(env="venv", answers={"x": 1})
    reread = Project.load(tmp_path)
    assert reread.recorded == {"template": "builtin:minimal", "env": "venv", "answers": {"x": 1}}
    assert '# keep me' in (tmp_path / "pyproject.toml").read_text()
    project.record(env=None)
    assert "env" not in Project.load(tmp_path).recorded


def test_pyproject_without_table_is_skipped(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.scaffolder]\ntemplate = "t"\n')
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert Project.find(inner).root == tmp_path


def test_no_project_is_a_clear_error(tmp_path):
    with pytest.raises(ProjectNotFound, match="scaffolder new"):
        Project.find(tmp_path)


def test_broken_toml_is_a_usage_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.scaffolder\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        Project.load(tmp_path)


def test_write_settings_creates_file(tmp_path):
    write_recorded(tmp_path / "pyproject.toml", {"template": "x", "answers": {"a": [1, 2]}})
    assert Project.load(tmp_path).recorded == {"template": "x", "answers": {"a": [1, 2]}}


def test_backend_in_tool_scaffolder_is_read_as_env_with_one_note(tmp_path, capsys):
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.scaffolder]\ntemplate = "builtin:minimal"\nbackend = "conda"  # old name\n')
    project = Project.load(tmp_path)
    Project.find(tmp_path)  # loading again notes nothing more
    assert project.recorded == {"template": "builtin:minimal", "env": "conda"}
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    old = f"backend in [tool.scaffolder] of {path}"
    assert notes == [f"note: {old} is deprecated, use env ({old} will be removed in the next release)"]
    project.record(python="3.12")  # the next time settings are recorded, the new name is written
    assert Project.load(tmp_path).recorded == {"template": "builtin:minimal", "env": "conda", "python": "3.12"}
    assert "backend" not in path.read_text()
