"""scaffolder reads TOML through one module, which works on Python 3.10 (tomli) and 3.11+ (tomllib)."""

import ast
from pathlib import Path

import pytest

from scaffolder import tomlfile

PACKAGE = Path(tomlfile.__file__).parent


def test_loads_parses_and_refuses_invalid_toml():
    assert tomlfile.loads('[tool.scaffolder]\nenv_path = ".venv"\n') == {"tool": {"scaffolder": {"env_path": ".venv"}}}
    with pytest.raises(tomlfile.TOMLDecodeError):
        tomlfile.loads("[tool\n")
    assert issubclass(tomlfile.TOMLDecodeError, ValueError)


def test_no_other_module_imports_a_toml_reader():
    """One shim: a module importing tomllib directly breaks Python 3.10, tomli directly breaks 3.11+ installs."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == Path(tomlfile.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args:
                names = [getattr(node.args[0], "value", "")]
            offenders += [f"{path.relative_to(PACKAGE)}: {n}" for n in names if n.split(".")[0] in ("tomllib", "tomli")]
    assert offenders == []
