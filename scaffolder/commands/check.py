from __future__ import annotations

import click

from scaffolder.console import print_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check(as_json) -> None:
    """Is the project reproducible now? Lock fresh for its inputs, env matching the lock, kernel alive.

    Exits 0 when all is well and 3 when something drifted, after printing what.
    """
    from scaffolder import config
    from scaffolder.errors import DriftFound
    from scaffolder.lifecycle.checks import run_checks
    from scaffolder.project import Project

    project = Project.find()
    results = run_checks(project, config.load(project=project))
    failed = [name for name, problems in results.items() if problems]
    if as_json:
        print_json({"ok": not failed, "project": str(project.root), "checks": results})
    else:
        for name, problems in results.items():
            click.echo(f"{name}: {'FAIL' if problems else 'ok'}")
            for problem in problems:
                click.echo(f"  {problem}")
    if failed:
        raise DriftFound(f"{', '.join(failed)} drifted", "see above for what and how to fix it")
