"""`scaffolder kernel register|list|remove|prune` on a real project with a real venv."""

import json
import shutil

import pytest
from childenv import make_env
from click.testing import CliRunner
from test_kernels import run_in_kernel

from scaffolder.cli import cli
from scaffolder.kernels import project as project_kernel
from scaffolder.kernels import specs as kernels
from scaffolder.project import Project, write_recorded


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "Sentiment.Bot"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "sentiment-bot"\n')
    write_recorded(root / "pyproject.toml", {
        "template": "builtin:minimal",
        "answers": {"project_name": "Sentiment Bot", "project_slug": "Sentiment.Bot"},
        "env_path": ".venv",
    })
    make_env(root / ".venv")
    monkeypatch.chdir(root)
    return root


def settings(root):
    return Project.load(root).recorded


def test_register_defaults_record_and_run_in_the_project_env(project):
    result = invoke("kernel", "register", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "sentiment.bot"  # slug sanitised to [a-z0-9._-]
    assert data["display_name"] == "Python (Sentiment Bot)"
    assert data["interpreter"] == str(project / ".venv" / "bin" / "python")
    assert settings(project)["kernel"] == "sentiment.bot"
    assert "kernel_prefix" not in settings(project)
    assert run_in_kernel("sentiment.bot", "import sys; print(sys.prefix)").strip() == str(project / ".venv")

    again = invoke("kernel", "register")
    assert again.exit_code == 0 and "already registered" in again.stderr


def test_collision_is_a_one_line_error_and_replace_overrides(project, tmp_path):
    other = make_env(tmp_path / "other")
    kernels.register(other, "sentiment.bot")
    result = CliRunner().invoke(cli, ["kernel", "register"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "--replace" in result.stderr and "Traceback" not in result.output
    assert kernels.get_kernel("sentiment.bot").interpreter == str(other)
    assert "kernel" not in settings(project)

    result = invoke("kernel", "register", "--replace")
    assert result.exit_code == 0
    assert "replaced kernel 'sentiment.bot' of another environment" in result.stderr
    assert kernels.get_kernel("sentiment.bot").env == project / ".venv"


def test_user_and_prefix_exclude_each_other(project, tmp_path):
    result = CliRunner().invoke(cli, ["kernel", "register", "--user", "--prefix", str(tmp_path / "p")])
    assert result.exit_code == 2 and "--user and --prefix exclude each other" in result.stderr
    assert kernels.list_kernels([kernels.kernels_dir(tmp_path / "p")]) == kernels.list_kernels()


def test_bad_name_is_a_usage_error(project):
    result = CliRunner().invoke(cli, ["kernel", "register", "--name", "My Env!"])
    assert result.exit_code == 2
    assert result.stderr == "error: kernel name 'My Env!' may only hold lower-case letters, digits, '.', '_' and " \
        "'-', starting with a letter or digit (try 'my-env')\n"


def test_sys_prefix_kernel_lives_in_the_env_and_is_listed_there(project):
    result = invoke("kernel", "register", "--sys-prefix", "--name", "inside", "--display-name", "Inside")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(project / ".venv" / "share" / "jupyter" / "kernels" / "inside")
    assert settings(project)["kernel_prefix"] == ".venv"
    listed = {k["name"]: k for k in json.loads(invoke("kernel", "list", "--json").stdout)}
    assert listed["inside"]["exists"] is True and listed["inside"]["display_name"] == "Inside"
    assert project_kernel.check(Project.load(project)) == []


def test_list_remove_prune(project, tmp_path, monkeypatch):
    assert invoke("kernel", "register").exit_code == 0
    doomed = make_env(tmp_path / "doomed")
    kernels.register(doomed, "doomed")
    shutil.rmtree(tmp_path / "doomed")

    listed = {k["name"]: k for k in json.loads(invoke("kernel", "list", "--json").stdout)}
    assert listed["doomed"]["exists"] is False and listed["doomed"]["stale"] is True
    assert listed["sentiment.bot"]["exists"] is True
    text = invoke("kernel", "list").stdout
    assert any(line.startswith("doomed") and "missing" in line for line in text.splitlines())

    dry = json.loads(invoke("kernel", "prune", "--dry-run", "--json").stdout)
    assert [k["name"] for k in dry["removed"]] == ["doomed"] and kernels.get_kernel("doomed") is not None
    assert invoke("kernel", "prune").stdout == f"removed doomed  ({doomed})\n"
    assert kernels.get_kernel("doomed") is None
    assert "no stale kernels" in invoke("kernel", "prune").stderr

    result = invoke("kernel", "remove", "sentiment.bot")
    assert result.exit_code == 0 and kernels.get_kernel("sentiment.bot") is None
    assert "kernel" not in settings(project)  # removing the project's kernel forgets it
    missing = CliRunner().invoke(cli, ["kernel", "remove", "sentiment.bot"])
    assert missing.exit_code == 1 and "no kernel named 'sentiment.bot'" in missing.stderr


def test_check_reports_missing_and_stale_project_kernel(project):
    proj = Project.load(project)
    assert project_kernel.check(proj) == []  # no kernel recorded (new --no-kernel): nothing to report
    assert invoke("kernel", "register").exit_code == 0
    proj = Project.load(project)
    assert project_kernel.check(proj) == []
    kernels.remove("sentiment.bot")
    assert "is not registered" in str(project_kernel.check(proj)[0])
    assert invoke("kernel", "register").exit_code == 0
    shutil.rmtree(project / ".venv")
    assert "no longer exists" in str(project_kernel.check(proj)[0])


def test_register_without_env_or_project(project, tmp_path, monkeypatch):
    shutil.rmtree(project / ".venv")
    result = CliRunner().invoke(cli, ["kernel", "register"])
    assert result.exit_code == 1 and "no environment" in result.stderr and "scaffolder env create" in result.stderr
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["kernel", "register"])
    assert result.exit_code == 1 and "no scaffolder project" in result.stderr
    assert CliRunner().invoke(cli, ["kernel", "list"]).exit_code == 0  # list works anywhere


def test_a_conda_project_registers_its_prefix(project):
    # A conda-shaped prefix (real venv + conda-meta/; no conda or Python package can be had offline here).
    Project.load(project).record(env="conda", env_path=None)  # default prefix: .conda
    make_env(project / ".conda")
    (project / ".conda" / "conda-meta").mkdir()
    result = invoke("kernel", "register", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["env"] == str(project / ".conda")
    assert run_in_kernel("sentiment.bot", "import sys; print(sys.prefix)").strip() == str(project / ".conda")


def test_removing_the_env_removes_its_kernels_and_check_says_so(project, tmp_path):
    assert invoke("kernel", "register").exit_code == 0
    assert invoke("kernel", "register", "--sys-prefix", "--name", "inside").exit_code == 0
    other = make_env(tmp_path / "other")
    kernels.register(other, "other")
    proj = Project.load(project)

    removed = project_kernel.remove_for_env(proj)
    assert sorted(k.name for k in removed) == ["inside", "sentiment.bot"]
    assert kernels.get_kernel("other") is not None
    assert kernels.get_kernel("sentiment.bot") is None
    assert "is not registered" in str(project_kernel.check(Project.load(project))[0])


def test_re_registering_keeps_the_recorded_name_and_place(project):
    assert invoke("kernel", "register", "--sys-prefix", "--name", "exp").exit_code == 0
    spec_dir = project / ".venv" / "share" / "jupyter" / "kernels" / "exp"
    shutil.rmtree(spec_dir)
    result = invoke("kernel", "register")
    assert result.exit_code == 0 and result.stdout.strip() == str(spec_dir)
    assert settings(project)["kernel"] == "exp" and settings(project)["kernel_prefix"] == ".venv"
    result = invoke("kernel", "register", "--user")
    assert result.stdout.strip() == str(kernels.kernels_dir() / "exp")
    assert "kernel_prefix" not in settings(project)
