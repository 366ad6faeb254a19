from __future__ import annotations

import click

from scaffolder.commands import current_reporter
from scaffolder.console import print_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def templates(as_json: bool) -> None:
    """List built-in templates and those installed plugins register."""
    from scaffolder.templates.sources import list_templates

    infos, warnings = list_templates()
    for warning in warnings:
        current_reporter().warn(warning)
    if as_json:
        print_json([info.as_dict() for info in infos])
        return
    width = max((len(i.name) for i in infos), default=0)
    for info in infos:
        origin = info.kind if info.kind == "builtin" else f"plugin from {info.package or '?'}"
        click.echo(f"{info.name:<{width}}  {info.version:<10} {origin:<12} {info.description}".rstrip())
