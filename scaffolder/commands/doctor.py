from __future__ import annotations

import click

from scaffolder.console import print_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(as_json) -> None:
    """Check this machine for what `new` needs: Pythons, installers, GPU and torch builds, package
    indexes, git and Jupyter kernel directories. Exits 1 when something `new` needs is missing."""
    from scaffolder.errors import NotReady
    from scaffolder.lifecycle.doctor import diagnose, render

    report = diagnose()
    if as_json:
        print_json(report.as_dict())
    else:
        click.echo("\n".join(render(report)))
    errors = [p for p in report.problems if p.severity == "error"]
    if errors:
        raise NotReady(f"{len(errors)} problem(s) stop 'scaffolder new': " + "; ".join(p.what for p in errors),
                       "apply the fixes listed above")
