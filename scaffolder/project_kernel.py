"""The project's own Jupyter kernel: its default name, its environment's interpreter, where it is
recorded (``kernel`` and ``kernel_prefix`` in ``[tool.scaffolder]``), and installing ipykernel
through the project's lock when the environment lacks it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import kernels
from .errors import KernelError, KernelExists
from .names import kernel_name
from .project import Project

DEFAULT_ENV_PATH = ".venv"


def _answers(project: Project) -> dict[str, Any]:
    answers = project.settings.get("answers")
    return answers if isinstance(answers, dict) else {}


def default_name(project: Project) -> str:
    """The project slug (or its name), sanitised to ``[a-z0-9._-]``."""
    answers = _answers(project)
    return kernel_name(str(answers.get("project_slug") or project.name))


def default_display_name(project: Project) -> str:
    return f"Python ({_answers(project).get('project_name') or project.name})"


def env_dir(project: Project) -> Path:
    """The project's environment: ``env_path`` (``.venv``, or ``.conda`` for conda), or a named conda env."""
    settings = project.settings
    if settings.get("backend") != "conda":
        return project.root / settings.get("env_path", DEFAULT_ENV_PATH)
    from .condaenv import prefix_for
    from .envs.conda import select_engine

    # Only a named env needs a conda engine to find it; a prefix in the project does not.
    return prefix_for(project.root, settings, select_engine() if settings.get("env_name") else None)


def env_python(env: Path) -> Path:
    """The interpreter of a venv or conda environment at ``env``."""
    for rel in ("bin/python", "Scripts/python.exe", "python.exe"):
        if (env / rel).exists():
            return env / rel
    raise KernelError(f"the project has no environment at {env}", "create it with 'scaffolder env create'")


def kernel_prefix(project: Project) -> Path | None:
    recorded = project.settings.get("kernel_prefix")
    return project.root / recorded if recorded else None


def search_dirs(project: Project | None) -> list[Path]:
    """Kernel directories Jupyter may not search by default but the project's kernel can live in:
    the environment's own ``share/jupyter/kernels`` and a recorded ``--prefix``."""
    if project is None:
        return []
    dirs = [kernels.kernels_dir(env_dir(project))]
    prefix = kernel_prefix(project)
    if prefix is not None:
        dirs.append(kernels.kernels_dir(prefix))
    return dirs


def ipykernel_installer(project: Project) -> Callable[[], None]:
    """Install ipykernel into the project's environment the way every package gets there: through the lock."""

    def install() -> None:
        raise KernelError(
            f"ipykernel is not installed in {env_dir(project)}",
            "add ipykernel to the dev dependency group in pyproject.toml, then run 'scaffolder lock' "
            "and 'scaffolder env sync'",
        )

    return install


def register(
    project: Project,
    name: str | None = None,
    display_name: str | None = None,
    *,
    prefix: Path | None = None,
    replace: bool = False,
    record: bool = True,
) -> kernels.Registration:
    """Register the project's kernel for its environment and record its name in ``[tool.scaffolder]``."""
    env = env_dir(project)
    python = env_python(env)
    result = kernels.register(
        python, name or default_name(project), display_name or default_display_name(project),
        prefix=prefix, env=env, replace=replace, install_ipykernel=ipykernel_installer(project),
    )
    if record:
        project.update_settings(kernel=result.kernel.name, kernel_prefix=_relative(prefix, project.root))
    return result


def applies_to_new(options) -> bool:  # noqa: ANN001 - generate.NewOptions
    return options.kernel and options.env != "none"


def register_for_new(ctx) -> None:  # noqa: ANN001 - generate.StepContext
    """``scaffolder new``'s last step: register the kernel, and remove it again if ``new`` rolls back."""
    project = Project(root=ctx.project_dir, settings=ctx.settings)
    try:
        result = register(project, record=False)  # `new` writes ctx.settings once all steps succeeded
    except KernelExists as exc:
        raise KernelExists(exc.message, "remove it with 'scaffolder kernel remove NAME', or rerun with --no-kernel") \
            from exc
    ctx.txn.on_rollback(f"remove kernel {result.kernel.name}", result.undo)
    if result.replaced is not None:
        ctx.reporter.warn(f"replaced kernel {result.replaced.name!r}, whose interpreter "
                          f"{result.replaced.interpreter} no longer exists")
    ctx.settings["kernel"] = result.kernel.name


def remove_for_env(project: Project, env: Path | None = None) -> list[kernels.KernelInfo]:
    """Remove every kernel that runs the project's environment (``env remove`` calls this).

    The project keeps its ``kernel`` record, so ``check`` says the kernel is missing until the
    environment is created again and the kernel re-registered. Kernels that cannot be removed are warned about."""
    from .console import current_reporter

    removed, failed = kernels.remove_for_env(env or env_dir(project), extra_dirs=search_dirs(project))
    for info, why in failed:
        current_reporter().warn(f"kernel {info.name!r} at {info.resource_dir} was not removed: {why}")
    return removed


def check(project: Project) -> list[KernelError]:
    """Problems with the kernel recorded for the project; none when it records no kernel."""
    name = project.settings.get("kernel")
    if not name:
        return []
    env = env_dir(project)
    python = env / "bin" / "python"
    try:
        python = env_python(env)
    except KernelError:
        pass  # kernels.check then reports the interpreter as gone or foreign
    return kernels.check(name, python, env=env, extra_dirs=search_dirs(project))


def _relative(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
