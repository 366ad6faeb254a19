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
    from scaffolder.envs import MANAGERS, manager_for
    from scaffolder.envs.base import EnvManager
    from scaffolder.envs.conda.manager import CondaManager
    from scaffolder.envs.venv.manager import VenvManager

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


LAZY_MARKER = "lazily"  # a function-local import of scaffolder's own code says why with this word


def _function_local_scaffolder_imports(tree: ast.Module) -> list[ast.stmt]:
    """``import scaffolder...`` / ``from scaffolder... import`` inside a function, ``if TYPE_CHECKING:`` skipped."""
    found: list[ast.stmt] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if in_function and isinstance(child, ast.ImportFrom) and child.level == 0 \
                    and (child.module or "").split(".")[0] == "scaffolder":
                found.append(child)
            elif in_function and isinstance(child, ast.Import) \
                    and any(alias.name.split(".")[0] == "scaffolder" for alias in child.names):
                found.append(child)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def test_function_local_imports_of_scaffolder_say_why():
    """The library imports its own modules at the top; a function-local one stays only for start-up
    speed, with a comment saying so (the word "lazily") on its line or in the 3 lines above it.
    The CLI layer (cli.py, commands/) imports the library lazily throughout, as commands/__init__ says."""
    package = ROOT / "scaffolder"
    unexplained = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "scaffolder/cli.py" or rel.startswith("scaffolder/commands/"):
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in _function_local_scaffolder_imports(ast.parse(source)):
            context = lines[max(0, node.lineno - 4):node.end_lineno]
            if not any(LAZY_MARKER in line for line in context):
                unexplained.append(f"{rel}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert unexplained == [], "move these to the module top, or say why they stay (\"# lazily: ...\"):\n" + \
        "\n".join(unexplained)


def test_no_module_imports_another_modules_private_names():
    """A name with a leading underscore is its module's own; another module that needs it gets a
    public name instead (tests may still reach in)."""
    reached_in = []
    for path in sorted((ROOT / "scaffolder").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scaffolder"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private:
                    reached_in.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}: {', '.join(private)}")
    assert reached_in == []
