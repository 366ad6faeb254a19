"""``scaffolder new``'s environment steps, in this order: create environment, lock, install (venv);
environment.yml, lock, create (conda). They drive the managers in ``envs/``.

Each step registers with the transaction how to undo what it made, so a failure anywhere in
``new`` removes the env and the lock files again. What they record goes into ``ctx.recorded``, which ``new``
writes to [tool.scaffolder] once every step succeeded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scaffolder.envs.base import link_project_source
from scaffolder.envs.conda.manager import CondaManager, prefix_for, shown_path
from scaffolder.envs.conda.manager import sync as conda_sync
from scaffolder.envs.python import choose_python
from scaffolder.envs.venv.backend import compile_bytecode
from scaffolder.envs.venv.manager import VenvManager, env_path, install_locked, lock_file_names, venv_backend
from scaffolder.errors import EnvError
from scaffolder.project import Project

if TYPE_CHECKING:  # pragma: no cover
    from scaffolder.config import Settings
    from scaffolder.lifecycle.new_options import NewOptions, Step, StepContext


def _wants_venv(options: NewOptions) -> bool:
    return options.env == "venv"


def _wants_lock(options: NewOptions) -> bool:
    return options.env == "venv" and options.lock


def _project(ctx: StepContext) -> tuple[Project, Settings]:
    return ctx.project, ctx.settings


def create_env(ctx: StepContext) -> None:
    project, settings = _project(ctx)
    choice = choose_python(project, settings)
    backend = venv_backend(settings.get("installer"), settings)
    env = env_path(project)
    if env.exists():
        raise EnvError(f"{env} already exists", "remove it, or generate into another directory")
    ctx.reporter.info(choice.describe())
    ctx.txn.created_path(env)
    backend.create(env, str(choice.interpreter))
    ctx.recorded.update(env="venv", installer=backend.installer, python=choice.version,
                        env_path=env.name)


def lock(ctx: StepContext) -> None:
    project, settings = _project(ctx)
    VenvManager().lock(project, settings, reporter=ctx.reporter, txn=ctx.txn)


def install(ctx: StepContext) -> None:
    project, settings = _project(ctx)
    backend = venv_backend(settings.get("installer"), settings)
    ctx.facts["bytecode_compiled"] = compile_bytecode(backend.compile_bytecode)
    ctx.facts["packages"] = install_locked(project.root, env_path(project), backend, reporter=ctx.reporter)
    ctx.facts["locks"] = lock_file_names(project.root)  # pylock.toml and pylock.dev.toml too


STEPS: list[Step] = [
    ("create environment", _wants_venv, create_env),
    ("lock dependencies", _wants_lock, lock),
    ("install packages", _wants_lock, install),
]


# ------------------------------------------------------------ scaffolder new --env conda


def _wants_conda(options) -> bool:  # noqa: ANN001 - lifecycle.new.NewOptions
    return options.env == "conda"


def _wants_conda_env(options) -> bool:  # noqa: ANN001
    return options.env == "conda" and options.lock


def _new_context(ctx):  # noqa: ANN001, ANN202 - lifecycle.new.StepContext
    project, settings = _project(ctx)
    return project, settings, CondaManager()


def new_write_inputs(ctx) -> None:  # noqa: ANN001
    project, settings, manager = _new_context(ctx)
    ctx.reporter.info(manager.python_choice(project, settings).describe())
    manager.ensure_inputs(project, settings, txn=ctx.txn)
    ctx.recorded.update(env="conda")


def new_lock(ctx) -> None:  # noqa: ANN001
    project, settings, manager = _new_context(ctx)
    manager.lock(project, settings, reporter=ctx.reporter, txn=ctx.txn)


def new_create(ctx) -> None:  # noqa: ANN001
    project, settings, manager = _new_context(ctx)
    engine = manager.engine(settings)
    files = manager.files(project)
    prefix = prefix_for(project.root, project.recorded, engine)
    if prefix.exists():
        raise EnvError(f"{prefix} already exists", "remove it, or generate into another directory")
    conda_sync(files, engine, prefix, txn=ctx.txn)
    link_project_source(prefix, project.root)
    ctx.recorded.update(env="conda", python=manager.python(project, settings), lock=files.lock_file.name,
                        env_path=shown_path(prefix, project))


# ``new --env conda``: environment.yml, then the lock, then the env (each undone if a later step fails).
STEPS += [
    ("write environment.yml", _wants_conda, new_write_inputs),
    ("lock conda environment", _wants_conda_env, new_lock),
    ("create conda environment", _wants_conda_env, new_create),
]
