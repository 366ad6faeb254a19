"""What ``scaffolder new`` was asked for (``NewOptions``) and what each post-render step gets
(``StepContext``): kept apart from ``new.py`` so the steps (``new_steps.py``, ``kernels.project``) can
name them without importing the module that runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffolder.config import Settings
from scaffolder.console import Reporter
from scaffolder.project import Project, read_pyproject
from scaffolder.transaction import Transaction


@dataclass
class NewOptions:
    name: str
    template: str | None = None
    output_dir: Path = Path(".")
    overrides: dict[str, Any] = field(default_factory=dict)
    answers_file: Path | None = None
    no_input: bool = True
    trust: bool = False
    allow_outside_links: bool = False  # copy what symlinks that leave the template point at
    force: bool = False
    dry_run: bool = False
    checkout: str | None = None
    env: str = "none"  # venv | conda | none
    python: str | None = None
    torch: str | None = None
    installer: str | None = None
    lock: bool = True
    kernel: bool = True
    git: bool = False  # git init + a first commit (the CLI turns it on; --no-git off)
    compile_bytecode: bool | None = None  # None: the compile_bytecode setting (default off)



@dataclass
class StepContext:
    options: NewOptions
    project_dir: Path
    recorded: dict[str, Any]  # [tool.scaffolder] as new writes it once every step succeeded; steps add to it
    txn: Transaction
    reporter: Reporter
    base_settings: Settings  # resolved once, when new started (no project yet)
    facts: dict[str, Any] = field(default_factory=dict)  # for the summary, not recorded (packages, ...)
    _project: Project | None = field(default=None, repr=False)

    @property
    def project(self) -> Project:
        """The rendered project: its pyproject.toml parsed once, its [tool.scaffolder] ``recorded``."""
        if self._project is None:
            root = self.project_dir.resolve()
            pyproject = read_pyproject(root / "pyproject.toml")
            self._project = Project(root=root, recorded=self.recorded, pyproject=pyproject)
        return self._project

    @property
    def settings(self) -> Settings:
        """The command's settings with what the steps recorded so far as the project layer (in memory)."""
        return self.base_settings.with_project(self.project)


# (name, applies(options) -> bool, run(StepContext)). Later steps can rely on earlier ones.
Step = tuple[str, Callable[[NewOptions], bool], Callable[[StepContext], None]]
