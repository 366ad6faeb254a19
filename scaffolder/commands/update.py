from __future__ import annotations

import click

from scaffolder.commands import current_reporter, renamed_option
from scaffolder.console import is_interactive, print_json


@click.command()
@click.option("--checkout", metavar="REF", help="Template version to move to: a git branch, tag or commit.")
@renamed_option("--to", "--checkout", metavar="REF")
@click.option("--allow-dirty", is_flag=True, help="Update even with uncommitted changes.")
@click.option("--no-input", is_flag=True, help="Give new template questions their defaults without asking.")
@click.option("--trust", is_flag=True,
              help="Let an outside template's extensions load and render it outside the sandbox (hooks never run).")
@click.option("--allow-outside-links", is_flag=True,
              help="Let the template hold symlinks that leave it (what they point at is copied into the project).")
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def update(checkout, allow_dirty, no_input, trust, allow_outside_links, dry_run, as_json) -> None:
    """Re-apply the project's template at a newer version, keeping your edits (3-way merge)."""
    from scaffolder import config
    from scaffolder.errors import MergeConflicts
    from scaffolder.lifecycle.update import update_project
    from scaffolder.project import Project

    reporter = current_reporter()
    project = Project.find()

    def ask_new(defaults: dict) -> dict:
        return {key: click.prompt(f"new template question {key}", default=value, err=True)
                for key, value in defaults.items()}

    interactive = is_interactive() and not no_input

    def confirm(fetched) -> bool:
        return click.confirm(
            f"Template {fetched.source.spec} ({fetched.version[:12]}) {'; '.join(fetched.runs_code())}. "
            "Hooks do not run on update; trust it to load its extensions and render unsandboxed?",
            default=False, err=True)

    result = update_project(project, to=checkout, allow_dirty=allow_dirty, ask_new=ask_new if interactive else None,
                            reporter=reporter, dry_run=dry_run, trust=trust, allow_outside_links=allow_outside_links,
                            confirm_trust=confirm if interactive else None,
                            settings=config.load(project=project))
    if as_json:
        print_json(result.as_dict())
    elif result.up_to_date:
        click.echo(f"up to date with {project.recorded.get('template')} ({result.to_version})")
    else:
        verb = "would update" if dry_run else "updated"
        click.echo(f"{verb} {result.from_version[:12]} -> {result.to_version[:12]}")
        if result.git_base:
            click.echo(f"  clean base: {result.git_base} (review with 'git diff', undo with "
                       "'git checkout -- . && git clean -fd')")
        for label, items in (("added", result.added), ("merged", result.merged), ("removed", result.removed),
                             ("kept (you changed it; the template dropped it)", result.kept),
                             ("CONFLICT", result.conflicts)):
            for rel in items:
                click.echo(f"  {label}: {rel}")
        if result.new_answers:
            click.echo("  new answers: " + ", ".join(f"{k}={v!r}" for k, v in result.new_answers.items()))
        if result.relocked:
            click.echo("  dependencies changed: relocked (run 'scaffolder env sync' to install)")
        elif result.dependencies_changed:
            click.echo("  dependencies changed: run 'scaffolder lock' to re-pin")
    if result.conflicts and not dry_run:
        raise MergeConflicts(f"{len(result.conflicts)} file(s) have conflicts",
                             "resolve the <<<<<<< markers, then commit")
