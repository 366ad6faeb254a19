from dataclasses import dataclass

import pytest

from {{ cookiecutter.package_name }}.config import ConfigError, load_config


@dataclass
class Example:
    lr: float = 1e-3
    steps: int = 10
    compile: bool = False
    name: str = "x"


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("lr = 0.5\nsteps = 3\n")
    cfg = load_config(Example, path, ["--steps=7", "--compile=true"])
    assert (cfg.lr, cfg.steps, cfg.compile, cfg.name) == (0.5, 7, True, "x")


def test_unknown_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown option"):
        load_config(Example, None, ["--nope=1"])


def test_bad_type_is_refused():
    with pytest.raises(ConfigError, match="--steps"):
        load_config(Example, None, ["--steps=many"])
