from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from scaffolder.commands import current_reporter, renamed_option
from scaffolder.console import print_json

if TYPE_CHECKING:  # pragma: no cover
    from scaffolder.console import Reporter
    from scaffolder.envs.base import EnvManager
    from scaffolder.project import Project

_KINDS = click.Choice(["venv", "conda"])


def _env_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--env, and --backend, its old name, kept one more release."""
    option = click.option("--env", type=_KINDS, default=None,
                          help="Environment kind  [default: the project's, else venv]")
    return option(renamed_option("--backend", "--env", type=_KINDS)(f))


_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _context(**cli):
    """The project (found from the current directory upward), its settings, resolved once for the
    command, and its env manager."""
    from scaffolder import config
    from scaffolder.envs import manager_for
    from scaffolder.project import Project

    project = Project.find()
    settings = config.load(cli=cli, project=project)
    return project, settings, manager_for(settings.get("env"))


def _locked(action: Callable[[EnvManager, Project, Any, Reporter], dict], cli: dict) -> tuple[dict, Reporter]:
    """Run ``action(manager, project, settings, reporter)`` while holding the project's lock; return
    (its result, reporter)."""
    from scaffolder.mutex import project_mutex

    project, settings, manager = _context(**cli)
    reporter = current_reporter()
    with project_mutex(project.root, reporter):
        return action(manager, project, settings, reporter), reporter


@click.group()
def env() -> None:
    """The project's environment: create it from the lock, sync it, describe it, remove it."""


@env.command()
@click.option("--python", default=None, metavar="3.X", help="Python version (or interpreter path) for the env.")
@click.option("--installer", type=click.Choice(["uv", "pip"]), default=None,
              help="uv, or virtualenv + pip + pip-tools  [default: uv when available]")
@_env_option
@click.option("--recreate", is_flag=True, help="Replace an existing env (the old one comes back if this fails).")
@_JSON
def create(python, installer, env, recreate, as_json) -> None:
    """Create the env and install the lock into it (locking first if there is no lock)."""
    cli = dict(python=python, installer=installer, env=env)
    result, reporter = _locked(
        lambda manager, project, settings, reporter: manager.create(project, settings, recreate=recreate,
                                                                    reporter=reporter), cli)
    if as_json:
        print_json(result)
        return
    reporter.info(f"{'recreated' if result.get('recreated') else 'created'} {result['path']}: "
                  f"Python {result.get('python')}, {result.get('packages')} packages from the lock")


@env.command()
@_env_option
@_JSON
def sync(env, as_json) -> None:
    """Make the env match the lock exactly: install, upgrade, downgrade and remove (hash-checked)."""
    result, reporter = _locked(lambda manager, project, settings, reporter: manager.sync(project, settings,
                                                                                          reporter=reporter),
                               dict(env=env))
    if as_json:
        print_json(result)
        return
    for line in result.get("changed", []):
        reporter.info(f"  {line}")
    reporter.info(f"{result['path']} matches the lock ({result.get('packages')} packages)")


@env.command()
@_env_option
@_JSON
def info(env, as_json) -> None:
    """Where the env is, its Python and installer, how many packages, and the lock's state."""
    project, settings, manager = _context(env=env)
    data = manager.info(project, settings)
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        if isinstance(value, dict):
            for name, sub in value.items():
                shown = ", ".join(f"{v}" for v in sub.values() if v) if isinstance(sub, dict) else sub
                click.echo(f"{key} {name}: {shown}")
        else:
            click.echo(f"{key}: {value}")


@env.command()
@_env_option
@_JSON
def remove(env, as_json) -> None:
    """Delete the env (and unregister kernels that ran it); the lock stays."""
    from scaffolder.kernels.project import remove_for_env

    result, reporter = _locked(lambda manager, project, settings, reporter: manager.remove(
        project, settings, reporter=reporter, before_remove=remove_for_env), dict(env=env))
    if as_json:
        print_json(result)
        return
    reporter.info(f"removed {result['path']}" if result.get("removed") else f"no environment at {result['path']}")
