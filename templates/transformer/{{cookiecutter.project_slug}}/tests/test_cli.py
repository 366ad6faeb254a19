import os
import subprocess
import sys

import pytest

from {{ cookiecutter.package_name }}.cli import COMMANDS, main
from {{ cookiecutter.package_name }}.config import ConfigError, load_config, pair_options


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


def test_options_take_key_space_value_as_well_as_key_equals_value():
    from {{ cookiecutter.package_name }}.pretrain import PretrainConfig

    cfg = load_config(PretrainConfig, None, ["--nsp", "--lr", "-1e-3", "--max-steps", "5", "--corpus=a.txt"])
    assert (cfg.nsp, cfg.lr, cfg.max_steps, cfg.corpus) == (True, -1e-3, 5, "a.txt")
    assert load_config(PretrainConfig, None, ["--nsp", "false", "--seed", "3"]).nsp is False
    options, words = pair_options(["--model", "runs/m", "a text", "--out", "o", "--", "--not-an-option"],
                                  PretrainConfig)  # fmt: skip
    assert options == ["--model=runs/m", "--out=o"] and words == ["a text", "--not-an-option"]
    with pytest.raises(ConfigError, match="needs a value"):
        load_config(PretrainConfig, None, ["--lr"])
    with pytest.raises(ConfigError, match="unknown option --lrate"):
        load_config(PretrainConfig, None, ["--lrate", "3"])
    with pytest.raises(ConfigError, match="unexpected argument 'stray'"):
        load_config(PretrainConfig, None, ["--nsp", "true", "stray"])
