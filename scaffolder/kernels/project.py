"""The project's own Jupyter kernel: its default name, its environment's interpreter, where it is
recorded (``kernel`` and ``kernel_prefix`` in ``[tool.scaffolder]``), and installing ipykernel
through the project's lock when the environment lacks it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scaffolder import config
from scaffolder.config import Settings
from scaffolder.console import Reporter, color_enabled
from scaffolder.envs.venv.manager import VenvManager, env_path, expected_packages, install_locked, venv_backend
from scaffolder.errors import KernelError, KernelExists
from scaffolder.fsutil import atomic_write_text
from scaffolder.kernels import specs as kernels
from scaffolder.locks.inputs import REQUIREMENTS_DEV_IN, project_inputs
from scaffolder.locks.locking import MAIN_LOCK
from scaffolder.names import kernel_name
from scaffolder.project import Project
from scaffolder.transaction import Transaction

IPYKERNEL = "ipykernel"
IPYKERNEL_REQUIREMENT = "ipykernel>=6.25"


def _answers(project: Project) -> dict[str, Any]:
    answers = project.recorded.get("answers")
    return answers if isinstance(answers, dict) else {}


def default_name(project: Project) -> str:
    """The project slug (or its name), sanitised to ``[a-z0-9._-]``."""
    answers = _answers(project)
    return kernel_name(str(answers.get("project_slug") or project.name))


def default_display_name(project: Project) -> str:
    return f"Python ({_answers(project).get('project_name') or project.name})"


def env_dir(project: Project) -> Path:
    """The project's environment: ``env_path`` (``.venv``, or ``.conda`` for conda), or a named conda env."""
    recorded = project.recorded
    if recorded.get("env") != "conda":
        return env_path(project)
    # lazily: the conda manager and engines load only for conda projects (start-up speed)
    from scaffolder.envs.conda.executable import select_engine
    from scaffolder.envs.conda.manager import prefix_for

    # Only a named env needs a conda engine to find it; a prefix in the project does not.
    return prefix_for(project.root, recorded, select_engine() if recorded.get("env_name") else None)


def env_python(env: Path) -> Path:
    """The interpreter of a venv or conda environment at ``env``."""
    for rel in ("bin/python", "Scripts/python.exe", "python.exe"):
        if (env / rel).exists():
            return env / rel
    raise KernelError(f"the project has no environment at {env}", "create it with 'scaffolder env create'")


def kernel_prefix(project: Project) -> Path | None:
    recorded = project.recorded.get("kernel_prefix")
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


def ipykernel_installer(project: Project, txn: Transaction | None = None, reporter: Reporter | None = None,
                        settings: Settings | None = None) -> Callable[[], None]:
    """Install ipykernel into the project's environment the way every package gets there: through the lock.

    ipykernel joins the dev dependencies (``[dependency-groups] dev``, or ``requirements-dev.in``) if no
    input names it, the lock is rewritten if it lacks it, and the env is synced with the lock. Inside
    ``txn`` (``new``) the input and lock edits roll back with everything else; outside, in their own."""

    def install() -> None:
        if project.recorded.get("env") == "conda":
            raise KernelError(f"ipykernel is not installed in {env_dir(project)}",
                              "add ipykernel to environment.yml, then run 'scaffolder lock' and 'scaffolder env sync'")
        resolved = settings if settings is not None else config.load(project=project)
        if txn is not None:
            _install_through_lock(project, txn, reporter, resolved)
            return
        with Transaction() as own:
            _install_through_lock(project, own, reporter, resolved)

    return install


def _install_through_lock(project: Project, txn: Transaction, reporter: Reporter | None,
                          settings: Settings) -> None:
    reporter = reporter or Reporter(color=color_enabled())
    if not (project.root / MAIN_LOCK).is_file():
        raise KernelError(f"ipykernel is not installed in {env_dir(project)} and the project has no {MAIN_LOCK}",
                          "run 'scaffolder lock' and 'scaffolder env sync', or pass --no-kernel")
    inputs = project_inputs(project)
    if IPYKERNEL not in inputs.main.names() | inputs.dev.names():
        where = _add_dev_requirement(project, txn)
        reporter.info(f"added {IPYKERNEL_REQUIREMENT} to {where}")
    if IPYKERNEL not in expected_packages(project.root):
        VenvManager().lock(project, settings, reporter=reporter, txn=txn)
    with reporter.step("install ipykernel from the lock"):
        install_locked(project.root, env_path(project), venv_backend(settings.get("installer"), settings),
                       reporter=reporter)


def _add_dev_requirement(project: Project, txn: Transaction) -> str:
    """Add ipykernel to the dev inputs (the same file the lock reads them from); returns where."""
    path = project.root / REQUIREMENTS_DEV_IN
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        new_text = text + ("" if text.endswith("\n") or not text else "\n") + IPYKERNEL_REQUIREMENT + "\n"
        where = REQUIREMENTS_DEV_IN
    else:
        import tomlkit

        path = project.pyproject_path
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
        groups = doc.setdefault("dependency-groups", tomlkit.table())
        groups.setdefault("dev", tomlkit.array()).append(IPYKERNEL_REQUIREMENT)
        new_text = tomlkit.dumps(doc)
        where = "[dependency-groups] dev in pyproject.toml"
    txn.guard(path)
    atomic_write_text(path, new_text)
    project.reread()
    return where


def register(
    project: Project,
    name: str | None = None,
    display_name: str | None = None,
    *,
    prefix: Path | None = None,
    replace: bool = False,
    record: bool = True,
    txn: Transaction | None = None,
    reporter: Reporter | None = None,
    settings: Settings | None = None,
) -> kernels.Registration:
    """Register the project's kernel for its environment and record its name in ``[tool.scaffolder]``.

    Without ``name``, the recorded name is kept (else the project slug), so re-registering after
    ``env create`` gives the same kernel back.

    A missing ipykernel is installed through the lock (with the command's ``settings``; without them,
    resolved then); inside ``txn`` that rolls back with it."""
    env = env_dir(project)
    python = env_python(env)
    result = kernels.register(
        python, name or project.recorded.get("kernel") or default_name(project),
        display_name or default_display_name(project),
        prefix=prefix, env=env, replace=replace,
        install_ipykernel=ipykernel_installer(project, txn, reporter, settings),
    )
    if record:
        project.record(kernel=result.kernel.name, kernel_prefix=_relative(prefix, project.root))
    return result


def applies_to_new(options) -> bool:  # noqa: ANN001 - lifecycle.new_options.NewOptions
    # --no-lock leaves the env empty (nothing installed), so there is no ipykernel to point at.
    return options.kernel and options.env != "none" and options.lock


def register_for_new(ctx) -> None:  # noqa: ANN001 - lifecycle.new_options.StepContext
    """``scaffolder new``'s last step: register the kernel, and remove it again if ``new`` rolls back."""
    try:
        # record=False: `new` writes ctx.recorded after the last step
        result = register(ctx.project, record=False, txn=ctx.txn, reporter=ctx.reporter, settings=ctx.settings)
    except KernelExists as exc:
        raise KernelExists(exc.message, "remove it with 'scaffolder kernel remove NAME', or rerun with --no-kernel") \
            from exc
    ctx.txn.on_rollback(f"remove kernel {result.kernel.name}", result.undo)
    if result.replaced is not None:
        ctx.reporter.warn(f"replaced kernel {result.replaced.name!r}, whose interpreter "
                          f"{result.replaced.interpreter} no longer exists")
    ctx.recorded["kernel"] = result.kernel.name


def remove_for_env(project: Project, env: Path | None = None,
                   reporter: Reporter | None = None) -> list[kernels.KernelInfo]:
    """Remove every kernel that runs the project's environment (``env remove`` calls this).

    The project keeps its ``kernel`` record, so ``check`` says the kernel is missing until the
    environment is created again and the kernel re-registered. Kernels that cannot be removed are warned about."""
    reporter = reporter or Reporter(color=color_enabled())
    removed, failed = kernels.remove_for_env(env or env_dir(project), extra_dirs=search_dirs(project))
    for info, why in failed:
        reporter.warn(f"kernel {info.name!r} at {info.resource_dir} was not removed: {why}")
    return removed


def check(project: Project) -> list[KernelError]:
    """Problems with the kernel recorded for the project; none when it records no kernel."""
    name = project.recorded.get("kernel")
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

