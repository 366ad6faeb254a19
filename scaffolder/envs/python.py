"""Which Python a project's environment gets, and why: one decision for venv and conda."""

from __future__ import annotations

from scaffolder.config import Settings
from scaffolder.project import Project
from scaffolder.pythons import NoMatchingPython, PythonChoice, choose, current_version


def choose_python(project: Project, settings: Settings, *, installed: bool = True) -> PythonChoice:
    """Which Python the project's env gets, and why: the one decision behind ``new`` and ``env create``.

    A Python that was asked for (--python, SCAFFOLDER_PYTHON, the config file, or ``python`` recorded
    in [tool.scaffolder]) must satisfy requires-python; otherwise the template's ``python_version``
    answer when it is installed and fits, else the newest installed match (``pythons.choose``).
    ``installed=False`` is for conda, which installs the version from its channel.
    """
    source = settings.source("python")
    answers = project.recorded.get("answers") or {}
    return choose(project.pyproject.get("project", {}).get("requires-python"), explicit=settings.get("python"),
                  explicit_from=_python_source(source), preferred=answers.get("python_version"), installed=installed)


def wanted_python(project: Project, settings: Settings) -> str:
    """major.minor the project runs on: the Python asked for, else what ``choose_python`` picks
    (the template's answer or the running one when no interpreter fits, so describing never fails)."""
    if settings.get("python"):
        return str(settings.get("python"))
    try:
        return choose_python(project, settings).version
    except NoMatchingPython:
        return str((project.recorded.get("answers") or {}).get("python_version") or current_version())


def _python_source(source: str | None) -> str:
    if source and source.startswith("env:"):
        return source.removeprefix("env:")
    if source and source.startswith("project:"):
        return "[tool.scaffolder] python"
    if source and source.startswith("file:"):
        return f"python in {source.removeprefix('file:')}"
    return "--python"
