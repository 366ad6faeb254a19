from __future__ import annotations

import sys
from pathlib import Path

import click

from scaffolder.commands import current_reporter
from scaffolder.console import is_interactive, print_json


@click.command()
@click.argument("name", required=False)
@click.option("-t", "--template", default=None, metavar="TEMPLATE",
              help="Built-in name (transformer, minimal), plugin name, directory, git URL, gh:user/repo or zip.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where the project directory is created.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Answer a template question; values are typed (true, 3, [a, b], {k: v}).")
@click.option("--answers", "answers_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Answers from a JSON, YAML or TOML file.")
@click.option("--no-input", is_flag=True, help="Never prompt; use defaults for unanswered questions.")
@click.option("--checkout", metavar="REF", help="Template version to use: a branch, tag or commit of a git template.")
@click.option("--env", "env", type=click.Choice(["venv", "conda", "none"]), default=None,
              help="Environment to create; none renders only  [default: the configured env, else venv]")
@click.option("--python", default=None, metavar="3.X", help="Python version of the env  [default: the template's]")
@click.option("--torch", default=None, metavar="auto|cpu|cuXYZ",
              help="PyTorch build to lock: auto picks the newest CUDA build the driver runs, else cpu.")
@click.option("--installer", type=click.Choice(["uv", "pip"]), default=None,
              help="uv, or virtualenv + pip + pip-tools  [default: uv when available]")
@click.option("--no-lock", is_flag=True, help="Create the env but do not lock or install (venv).")
@click.option("--no-kernel", is_flag=True, help="Skip registering the Jupyter kernel named after the project.")
@click.option("--trust", is_flag=True,
              help="Let an outside template run code (hooks, extensions) and render outside the sandbox.")
@click.option("--allow-outside-links", is_flag=True,
              help="Let the template hold symlinks that leave it (what they point at is copied into the project).")
@click.option("--force", is_flag=True, help="Write into a non-empty directory, overwriting only template files.")
@click.option("--dry-run", is_flag=True, help="Show the files and steps; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--no-git", is_flag=True, help="Do not run git init and make a first commit.")
@click.option("--compile-bytecode/--no-compile-bytecode", default=None,
              help="Write .pyc files for every installed package (images, read-only envs)  "
                   "[default: the compile_bytecode setting, else no]")
def new(name, template, output_dir, sets, answers_file, no_input, checkout, env, python, torch, installer, no_lock,
        no_kernel, trust, allow_outside_links, force, dry_run, as_json, no_git,
        compile_bytecode) -> None:
    """Generate project NAME from a template.

    NAME answers the template's project_name (a display name such as "My Lib" is fine); the template
    derives its other names from it.
    """
    from scaffolder.config import load
    from scaffolder.envs import manager_for
    from scaffolder.lifecycle.new import NewOptions, create_project
    from scaffolder.locks.torch_variant import validate_variant
    from scaffolder.templates.answers import parse_set

    interactive = is_interactive() and not no_input
    if name is None:
        if not interactive:
            raise click.UsageError("Missing argument 'NAME'.")
        name = click.prompt("Project name", err=True).strip()
    env = env or load().get("env") or "venv"
    if env != "none":
        manager_for(env)  # refuse an unavailable env kind before rendering anything
    if torch is not None:
        validate_variant(torch)
    reporter = current_reporter()
    options = NewOptions(
        name=name, template=template, output_dir=output_dir, overrides=parse_set(sets, typed=False),
        answers_file=answers_file, no_input=not interactive, trust=trust, force=force,
        allow_outside_links=allow_outside_links, dry_run=dry_run,
        checkout=checkout, env=env, python=python, torch=torch, installer=installer, lock=not no_lock,
        kernel=not no_kernel, git=not no_git, compile_bytecode=compile_bytecode,
    )

    def confirm(fetched) -> bool:
        if not interactive:
            return False
        return click.confirm(
            f"Template {fetched.source.spec} from {fetched.repo_dir} {'; '.join(fetched.runs_code())}. "
            "Trust it to run that code?", default=False, err=True)

    if as_json:
        reporter.live = False  # progress stays plain lines on stderr; stdout is the JSON alone
    result = create_project(options, reporter, confirm)
    if as_json:
        print_json(result.as_dict())
        return
    if result.dry_run:
        click.echo(f"would create {result.project_dir} from {result.template} ({result.template_version})")
        for what in result.runs_code:
            click.echo(f"template {what} (needs --trust)")
        for rel in result.files:
            click.echo(f"  {rel}")
        click.echo("steps: " + " -> ".join(result.steps))
        return
    from scaffolder.lifecycle.summary import render

    reporter.show_timings()
    summary = "\n".join(render(result))
    if reporter.verbosity >= 0 and sys.stdout.isatty():
        click.echo(summary, color=reporter.color)  # the summary holds the path
        return
    if reporter.verbosity >= 0:
        click.echo(summary, err=True, color=reporter.color)
    click.echo(str(result.project_dir))  # stdout is the path alone when a script reads it
