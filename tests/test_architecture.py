"""The package's layers (docs/design.md): import-linter's contracts in pyproject.toml hold, and the
env managers share one declared interface."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _lint_imports() -> str:
    beside = Path(sys.executable).parent / "lint-imports"
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is missing: install the test extras (pip install -e '.[test]')")
    return found


def test_import_contracts_are_kept():
    result = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert "layers" in (ROOT / "pyproject.toml").read_text()


def test_both_env_managers_implement_the_protocol():
    from scaffolder.envs.base import EnvManager
    from scaffolder.envs.conda_manager import CondaManager
    from scaffolder.envs.manager import MANAGERS, VenvManager, manager_for

    assert isinstance(VenvManager(), EnvManager) and isinstance(CondaManager(), EnvManager)
    assert {kind: manager_for(kind).kind for kind in MANAGERS} == {"venv": "venv", "conda": "conda"}


def test_env_commands_call_manager_methods_not_names():
    tree = ast.parse((ROOT / "scaffolder" / "commands" / "env.py").read_text(encoding="utf-8"))
    calls = [node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    assert "getattr" not in calls


def test_the_import_graph_has_no_cycle():
    # Every import counts, function-local and TYPE_CHECKING ones too (grimp is import-linter's graph).
    import grimp

    graph = grimp.build_graph("scaffolder")
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert cycles == []
