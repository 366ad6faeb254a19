import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import REPO

from scaffolder import __version__
from scaffolder.cli import COMMANDS, cli


@pytest.fixture
def runner():
    return CliRunner()


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"scaffolder {__version__}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(runner, command):
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys\nfrom scaffolder.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    return set(out.split("MODULES", 1)[1].split())


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_startup_imports_nothing_heavy(args):
    heavy = {"cookiecutter", "virtualenv", "rich", "torch", "transformers", "jupyter_client", "rattler", "jinja2"}
    assert not (_modules_after(args) & heavy)


def test_new_as_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "scaffolder", "new", "cli-demo", "-t", "minimal", "-o", str(tmp_path),
         "--no-input", "--env", "none"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "cli-demo")
    assert (tmp_path / "cli-demo" / "src" / "cli_demo" / "__init__.py").is_file()


def test_new_in_process_with_set_and_json(runner, tmp_path):
    result = runner.invoke(cli, ["new", "json-demo", "-t", "minimal", "-o", str(tmp_path), "--no-input", "--env",
                                 "none", "--set", "description=Hello there", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answers"]["description"] == "Hello there"
    assert data["template"] == "builtin:minimal"


def test_dry_run_prints_tree_and_steps(runner, tmp_path):
    result = runner.invoke(cli, ["new", "dry", "-t", "minimal", "-o", str(tmp_path), "--no-input", "--env", "none",
                                 "--dry-run"])
    assert result.exit_code == 0
    assert "pyproject.toml" in result.stdout and "steps: render template" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_bad_name_is_one_line_usage_error(runner, tmp_path):
    result = runner.invoke(cli, ["new", "3d model", "-o", str(tmp_path), "--no-input", "--env", "none"])
    assert result.exit_code == 2
    # Names are checked after rendering (the template derives them), so the render step was announced.
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("==> ")]
    assert len(lines) == 1 and lines[0].startswith("error: '3d model' gives the project slug '3d-model'")
    assert "does not start with a letter" in lines[0]
    assert "Traceback" not in result.output


def test_existing_destination_exits_1(runner, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "f").write_text("x")
    result = runner.invoke(cli, ["new", "taken", "-t", "minimal", "-o", str(tmp_path), "--no-input", "--env", "none"])
    assert result.exit_code == 1
    assert "--force" in result.stderr


def test_unexpected_errors_are_one_line_unless_debug(tmp_path):
    # A file where the output directory should be: an OSError deep inside the library.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = [sys.executable, "-m", "scaffolder", "new", "x-proj", "-t", "minimal", "-o", str(blocker / "sub"),
            "--no-input", "--env", "none"]
    quiet = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    assert quiet.returncode == 1
    assert len(quiet.stderr.strip().splitlines()) == 1 and "Traceback" not in quiet.stderr
    loud = subprocess.run([*args[:3], "--debug", *args[3:]], capture_output=True, text=True, cwd=REPO)
    assert loud.returncode == 1 and "Traceback" in loud.stderr


def test_no_color_strips_styles(tmp_path):
    env = {"NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "scaffolder", "new", "nc", "-t", "minimal", "-o", str(tmp_path), "--no-input",
         "--env", "none"],
        capture_output=True, text=True, cwd=REPO, env=env,
    )
    assert proc.returncode == 0 and "\x1b[" not in proc.stderr


def test_templates_json(runner):
    result = runner.invoke(cli, ["templates", "--json"])
    names = [t["name"] for t in json.loads(result.stdout)]
    assert {"transformer", "minimal"} <= set(names)
