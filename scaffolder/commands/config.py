from __future__ import annotations

import click

from scaffolder.console import print_json


@click.group()
def config() -> None:
    """Show the effective settings and where each comes from."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def show(as_json: bool) -> None:
    """Print every effective setting with its source (cli, env, project, file, default)."""
    from scaffolder import config as cfg
    from scaffolder.errors import ProjectNotFound
    from scaffolder.project import Project

    try:
        project = Project.find()
    except ProjectNotFound:
        project = None
    settings = cfg.load(project=project)
    if as_json:
        print_json({"config_file": str(cfg.config_path()),
                    "settings": {k: {"value": s.value, "source": s.source} for k, s in settings.items()}})
        return
    click.echo(f"# config file: {cfg.config_path()}")
    for key, setting in settings.items():
        click.echo(f"{key} = {setting.value!r}  # {setting.source}")
