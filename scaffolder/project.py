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
    # [tool.scaffolder] as recorded: what made the project (template, answers) and what it chose (env,
    # Python, installer, locks). Not the command's config.Settings, which layers this with the rest.
    recorded: dict[str, Any] = field(default_factory=dict)
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
        recorded = data.get("tool", {}).get(TABLE)
        if recorded is None:
            raise ProjectNotFound(
                f"{root / PYPROJECT} has no [tool.{TABLE}] table", "generate the project with 'scaffolder new'"
            )
        recorded = dict(recorded)
        if "backend" in recorded:  # the old name of env, kept one more release
            deprecated(f"backend in [tool.{TABLE}] of {root / PYPROJECT}", "env")
            backend = recorded.pop("backend")
            recorded.setdefault("env", backend)
        return cls(root=root, recorded=recorded, pyproject=data)

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

    def record(self, **changes: Any) -> None:
        """Merge ``changes`` into [tool.scaffolder] and rewrite pyproject.toml atomically, keeping its formatting."""
        self.recorded.update({k: v for k, v in changes.items() if v is not None})
        for key in [k for k, v in changes.items() if v is None]:
            self.recorded.pop(key, None)
        write_recorded(self.pyproject_path, self.recorded)
        self.pyproject.setdefault("tool", {})[TABLE] = dict(self.recorded)


def read_pyproject(path: Path) -> dict[str, Any]:
    """A pyproject.toml parsed; a missing or broken one is one line that says so."""
    try:
        return tomlfile.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectNotFound(f"no {PYPROJECT} in {Path(path).parent}", "run this inside a scaffolder project") \
            from None
    except tomlfile.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", "fix the file and try again") from None


def write_recorded(pyproject_path: Path, recorded: dict[str, Any]) -> None:
    """Replace the [tool.scaffolder] table of ``pyproject_path`` (creating the file if needed)."""
    import tomlkit

    path = Path(pyproject_path)
    doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    tool = doc.get("tool")
    if tool is None:
        tool = tomlkit.table(is_super_table=True)
        doc["tool"] = tool
    table = tomlkit.table()
    for key, value in recorded.items():
        table[key] = toml_value(value)
    tool[TABLE] = table
    atomic_write_text(path, tomlkit.dumps(doc))


def toml_value(value: Any):
    """``value`` as tomlkit writes it into [tool.scaffolder]: tables inline, so the table stays one block."""
    import tomlkit

    if isinstance(value, dict):
        inline = tomlkit.inline_table()
        for k, v in value.items():
            inline[k] = toml_value(v)
        return inline
    return value
