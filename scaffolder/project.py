"""The Project model: a directory whose pyproject.toml has a ``[tool.scaffolder]`` table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffolder import tomlfile
from scaffolder.console import deprecated
from scaffolder.errors import ProjectNotFound, UsageError
from scaffolder.fsutil import atomic_write_text

PYPROJECT = "pyproject.toml"
TABLE = "scaffolder"


@dataclass
class Project:
    root: Path
    settings: dict[str, Any] = field(default_factory=dict)
    pyproject: dict[str, Any] = field(default_factory=dict)
    # What a command derives from these files once and reuses (the lock inputs, say): a command loads
    # its project once, so this lives exactly as long as the command.
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def pyproject_path(self) -> Path:
        return self.root / PYPROJECT

    @property
    def name(self) -> str:
        return self.pyproject.get("project", {}).get("name") or self.root.name

    @classmethod
    def load(cls, root: Path) -> Project:
        root = Path(root).resolve()
        data = read_pyproject(root / PYPROJECT)
        settings = data.get("tool", {}).get(TABLE)
        if settings is None:
            raise ProjectNotFound(
                f"{root / PYPROJECT} has no [tool.{TABLE}] table", "generate the project with 'scaffolder new'"
            )
        settings = dict(settings)
        if "backend" in settings:  # the old name of env, kept one more release
            deprecated(f"backend in [tool.{TABLE}] of {root / PYPROJECT}", "env")
            backend = settings.pop("backend")
            settings.setdefault("env", backend)
        return cls(root=root, settings=settings, pyproject=data)

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

    def reread(self) -> None:
        """Parse pyproject.toml again after this command changed it, and forget what was derived from
        the old text; [tool.scaffolder] stays as the command holds it."""
        self.pyproject = read_pyproject(self.pyproject_path)
        self.memo.clear()

    def update_settings(self, **changes: Any) -> None:
        """Merge ``changes`` into [tool.scaffolder] and rewrite pyproject.toml atomically, keeping its formatting."""
        self.settings.update({k: v for k, v in changes.items() if v is not None})
        for key in [k for k, v in changes.items() if v is None]:
            self.settings.pop(key, None)
        write_settings(self.pyproject_path, self.settings)
        self.pyproject.setdefault("tool", {})[TABLE] = dict(self.settings)


def read_pyproject(path: Path) -> dict[str, Any]:
    """A pyproject.toml parsed; a missing or broken one is one line that says so."""
    try:
        return tomlfile.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectNotFound(f"no {PYPROJECT} in {Path(path).parent}", "run this inside a scaffolder project") \
            from None
    except tomlfile.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", "fix the file and try again") from None


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
