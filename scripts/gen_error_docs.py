"""Write docs/error-reference.md: every error scaffolder raises, read from the source, with its fix.

    python scripts/gen_error_docs.py          # rewrite the page
    python scripts/gen_error_docs.py --check  # exit 1 if the page is out of date (the tests run this)
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "error-reference.md"
sys.path.insert(0, str(REPO))


def _text(node: ast.AST | None, constants: dict[str, str]) -> str:
    if node is None:
        return ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
            else:
                out.append("‹" + ast.unparse(part.value)[:40] + "›")
        return "".join(out)
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.BinOp):
        return _text(node.left, constants) + _text(node.right, constants)
    return "‹" + ast.unparse(node)[:40] + "›"


def _exit_code(module: str, name: str) -> int:
    for candidate in (module, "scaffolder.errors"):
        try:
            cls = getattr(importlib.import_module(candidate), name, None)
        except ImportError:
            continue
        if inspect.isclass(cls) and hasattr(cls, "exit_code"):
            return int(cls.exit_code)
    return 1


def collect() -> list[tuple[str, int, str, str, str]]:
    from scaffolder.errors import ScaffolderError

    error_names = {"ScaffolderError"}
    rows = []
    for path in sorted((REPO / "scaffolder").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            try:
                mod = importlib.import_module(module)
                cls = getattr(mod, name, None) or getattr(importlib.import_module("scaffolder.errors"), name, None)
            except ImportError:
                cls = None
            if not (name in error_names or (inspect.isclass(cls) and issubclass(cls, ScaffolderError))):
                continue
            args = list(node.exc.args)
            hint = next((k.value for k in node.exc.keywords if k.arg == "hint"), args[1] if len(args) > 1 else None)
            if name == "StepFailed":  # StepFailed(step, message, hint)
                message = "‹step› failed: " + _text(args[1] if len(args) > 1 else None, constants)
                hint = args[2] if len(args) > 2 else None
            else:
                message = _text(args[0] if args else None, constants)
            rows.append((module, _exit_code(module, name), name, message, _text(hint, constants)))
    return rows


def render() -> str:
    lines = [
        "# Error reference",
        "",
        "Every error scaffolder can print, read from its source by `scripts/gen_error_docs.py` (the tests",
        "fail when this page is out of date). Each prints as one line, `error: MESSAGE (FIX)`; `‹…›` marks",
        "a value filled in at run time. Exit codes: 1 failure, 2 usage error, 3 drift, 4 merge conflicts.",
        "",
    ]
    current = None
    for module, code, name, message, hint in collect():
        if module != current:
            lines += ["", f"## `{module}`", "", "| exit | error | message | fix |", "|---|---|---|---|"]
            current = module
        cell = [str(code), name, message.replace("|", "\\|"), (hint or "—").replace("|", "\\|")]
        lines.append("| " + " | ".join(c.replace("\n", " ") for c in cell) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is out of date: run python scripts/gen_error_docs.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
