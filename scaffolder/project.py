"""The Project model: a directory whose pyproject.toml has a ``[tool.scaffolder]`` table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffolder import tomlfile
from scaffolder.errors import ProjectNotFound, UsageError
from scaffolder.fsutil import atomic_write_text

PYPROJECT = "pyproject.toml"
TABLE = "scaffolder"


@dataclass
class Project:
    root: Path
    settings: dict[str, Any] = field(default_factory=dict)
    pyproject: dict[str, Any] = field(default_factory=dict)

    @property
    def pyproject_path(self) -> Path:
        return self.root / PYPROJECT

    @property
    def name(self) -> str:
        return self.pyproject.get("project", {}).get("name") or self.root.name

    @classmethod
    def load(cls, root: Path) -> Project:
        root = Path(root).resolve()
        path = root / PYPROJECT
        try:
            data = tomlfile.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProjectNotFound(f"no {PYPROJECT} in {root}", "run this inside a scaffolder project") from None
        except tomlfile.TOMLDecodeError as exc:
            raise UsageError(f"{path} is not valid TOML: {exc}", "fix the file and try again") from None
        settings = data.get("tool", {}).get(TABLE)
        if settings is None:
            raise ProjectNotFound(
                f"{path} has no [tool.{TABLE}] table", "generate the project with 'scaffolder new'"
            )
        return cls(root=root, settings=dict(settings), pyproject=data)

    @classmethod
    def find(cls, start: Path | None = None) -> Project:
        """Walk up from ``start`` to the first pyproject.toml with a [tool.scaffolder] table."""
        here = Path(start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            path = candidate / PYPROJECT
            if path.is_file():
                try:
                    return cls.load(candidate)
                except ProjectNotFound:
                    continue
        raise ProjectNotFound(
            f"no scaffolder project found in {here} or its parents",
            "cd into a project made by 'scaffolder new', or create one",
        )

    def update_settings(self, **changes: Any) -> None:
        """Merge ``changes`` into [tool.scaffolder] and rewrite pyproject.toml atomically, keeping its formatting."""
        self.settings.update({k: v for k, v in changes.items() if v is not None})
        for key in [k for k, v in changes.items() if v is None]:
            self.settings.pop(key, None)
        write_settings(self.pyproject_path, self.settings)
        self.pyproject.setdefault("tool", {})[TABLE] = dict(self.settings)


def write_settings(pyproject_path: Path, settings: dict[str, Any]) -> None:
    """Replace the [tool.scaffolder] table of ``pyproject_path`` (creating the file if needed)."""
    import tomlkit

    path = Path(pyproject_path)
    doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    tool = doc.get("tool")
    if tool is None:
        tool = tomlkit.table(is_super_table=True)
        doc["tool"] = tool
    table = tomlkit.table()
    for key, value in settings.items():
        table[key] = _inline(value)
    tool[TABLE] = table
    atomic_write_text(path, tomlkit.dumps(doc))


def _inline(value: Any):
    import tomlkit

    if isinstance(value, dict):
        inline = tomlkit.inline_table()
        for k, v in value.items():
            inline[k] = _inline(v)
        return inline
    return value
