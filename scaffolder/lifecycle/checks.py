"""``scaffolder check``: is the project reproducible right now?

Each entry of ``CHECKS`` looks at one thing and returns its problems as short lines (empty: fine).
The environment check covers the lock (fresh for its inputs?) and the env (matches the lock?)
through the backend's manager; the kernel check asks project_kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scaffolder.envs import manager_for
from scaffolder.errors import ScaffolderError
from scaffolder.kernels.project import check as check_kernel
from scaffolder.lifecycle.update import newer_template_version
from scaffolder.project import Project


def _environment(project: Project, settings) -> list[str]:
    return manager_for(settings.get("env")).check(project, settings)


def _kernel(project: Project, settings) -> list[str]:
    return [error.format_message() for error in check_kernel(project)]


def _template(project: Project, settings) -> list[str]:
    newer = newer_template_version(project)
    if newer is None:
        return []
    recorded = str(project.recorded.get("template_version", "?"))
    return [f"template {project.recorded.get('template')} is at {newer[:12]}, the project has {recorded[:12]} "
            "(run 'scaffolder update')"]


# (name, check(project, settings) -> problems). Add a line to check something more.
CHECKS: list[tuple[str, Callable[[Project, Any], list[str]]]] = [
    ("environment", _environment),
    ("kernel", _kernel),
    ("template", _template),
]


def run_checks(project: Project, settings) -> dict[str, list[str]]:
    """name -> problems, for every check; a check that cannot run reports why as its problem."""
    results: dict[str, list[str]] = {}
    for name, check in CHECKS:
        try:
            results[name] = check(project, settings)
        except ScaffolderError as exc:
            results[name] = [exc.format_message()]
    return results
