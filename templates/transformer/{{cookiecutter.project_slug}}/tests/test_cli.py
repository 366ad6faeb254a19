import os
import subprocess
import sys

from {{ cookiecutter.package_name }}.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_refused(capsys):
    assert main(["no-such-command"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_help_does_not_import_torch():
    code = (
        "import sys, {{ cookiecutter.package_name }}.cli as c; c.main(['--help']);"
        "print('torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    out = proc.stdout
    assert out.strip().endswith("False")
