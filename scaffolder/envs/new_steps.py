"""``scaffolder new``'s environment steps, in this order: create environment, lock, install.

Each step registers with the transaction how to undo what it made, so a failure anywhere in
``new`` removes the env and the lock files again. Settings go into ``ctx.settings``, which ``new``
writes to [tool.scaffolder] once every step succeeded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scaffolder import tomlfile
from scaffolder.envs.manager import (
    VenvManager,
    choose_python,
    env_path,
    install_locked,
    load_settings,
    lock_file_names,
    venv_backend,
)
from scaffolder.envs.venv import compile_bytecode
from scaffolder.errors import EnvError
from scaffolder.project import Project

if TYPE_CHECKING:  # pragma: no cover
    from scaffolder.lifecycle.new import NewOptions, Step, StepContext


def _wants_venv(options: NewOptions) -> bool:
    return options.env == "venv"


def _wants_lock(options: NewOptions) -> bool:
    return options.env == "venv" and options.lock


def _project(ctx: StepContext) -> tuple[Project, object]:
    pyproject = tomlfile.loads((ctx.project_dir / "pyproject.toml").read_text(encoding="utf-8"))
    project = Project(root=ctx.project_dir.resolve(), settings=ctx.settings, pyproject=pyproject)
    options = ctx.options
    settings = load_settings(project, python=options.python, installer=options.installer, torch=options.torch)
    return project, settings


def create_env(ctx: StepContext) -> None:
    project, settings = _project(ctx)
    choice = choose_python(project, settings)
    backend = venv_backend(settings.get("installer"))
    env = env_path(project)
    if env.exists():
        raise EnvError(f"{env} already exists", "remove it, or generate into another directory")
    ctx.reporter.info(choice.describe())
    ctx.txn.created_path(env)
    backend.create(env, str(choice.interpreter))
    ctx.settings.update(backend="venv", installer=backend.installer, python=choice.version,
                        env_path=env.name)


def lock(ctx: StepContext) -> None:
    project, settings = _project(ctx)
    VenvManager().lock(project, settings, reporter=ctx.reporter, txn=ctx.txn)


def install(ctx: StepContext) -> None:
    project, _ = _project(ctx)
    backend = venv_backend(ctx.settings.get("installer"))
    backend.compile_bytecode = ctx.options.compile_bytecode
    ctx.facts["bytecode_compiled"] = compile_bytecode(backend.compile_bytecode)
    ctx.facts["packages"] = install_locked(project.root, env_path(project), backend)
    ctx.facts["locks"] = lock_file_names(project.root)  # pylock.toml and pylock.dev.toml too


STEPS: list[Step] = [
    ("create environment", _wants_venv, create_env),
    ("lock dependencies", _wants_lock, lock),
    ("install packages", _wants_lock, install),
]


def _conda_steps() -> list[Step]:
    from scaffolder.envs.conda_manager import NEW_STEPS

    return NEW_STEPS


# --env conda: write environment.yml, lock, create the env (scaffolder.envs.conda_manager).
STEPS += _conda_steps()
