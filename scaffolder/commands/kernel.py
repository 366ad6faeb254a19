from __future__ import annotations

from pathlib import Path

import click

from scaffolder.commands import current_reporter
from scaffolder.console import print_json


def _project_or_none():
    from scaffolder.errors import ProjectNotFound
    from scaffolder.project import Project

    try:
        return Project.find()
    except ProjectNotFound:
        return None


@click.group()
def kernel() -> None:
    """Jupyter kernels that run the project's environment."""


@kernel.command()
@click.option("--name", default=None, help="Kernel name, [a-z0-9._-]  [default: the recorded one, else the slug]")
@click.option("--display-name", default=None, help="Name shown in Jupyter  [default: Python (PROJECT)]")
@click.option("--user", "location", flag_value="user",
              help="Install in the user's Jupyter data directory  [default, unless a prefix is recorded]")
@click.option("--sys-prefix", "location", flag_value="sys-prefix",
              help="Install inside the project's environment (seen by a Jupyter installed there).")
@click.option("--prefix", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Install under DIR/share/jupyter/kernels (seen with JUPYTER_PATH=DIR/share/jupyter).")
@click.option("--replace", is_flag=True, help="Overwrite a kernel of the same name that runs another environment.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def register(name, display_name, location, prefix, replace, as_json) -> None:
    """Register a kernel that runs the project's environment."""
    from scaffolder.errors import UsageError
    from scaffolder.kernels import project as project_kernel
    from scaffolder.project import Project

    project = Project.find()
    if prefix is not None and location is not None:
        raise UsageError(f"--{location} and --prefix exclude each other", "pass only one of them")
    if location == "sys-prefix":
        prefix = project_kernel.env_dir(project)
    elif location is None and prefix is None:
        prefix = project_kernel.kernel_prefix(project)  # where it was registered last time
    reporter = current_reporter()
    result = project_kernel.register(project, name, display_name, prefix=prefix, replace=replace, reporter=reporter)
    if result.replaced is not None:
        why = "whose interpreter no longer exists" if result.replaced.stale else "of another environment"
        reporter.warn(f"replaced kernel {result.replaced.name!r} {why} ({result.replaced.interpreter})")
    if as_json:
        print_json({**result.kernel.as_dict(), "unchanged": result.unchanged,
                    "replaced": result.replaced.as_dict() if result.replaced else None})
        return
    state = "already registered" if result.unchanged else "registered"
    k = result.kernel
    reporter.info(f"{state} kernel {k.name!r} ({k.display_name}) -> {k.interpreter}")
    click.echo(str(result.kernel.resource_dir))


@kernel.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def list_(as_json) -> None:
    """Every kernelspec Jupyter finds, with its interpreter and whether it still exists."""
    from scaffolder.kernels import project as project_kernel
    from scaffolder.kernels import specs as kernels

    found = kernels.list_kernels(project_kernel.search_dirs(_project_or_none()))
    if as_json:
        print_json([k.as_dict() for k in found])
        return
    width = max((len(k.name) for k in found), default=0)
    for k in found:
        state = "broken" if k.error else ("missing" if not k.exists else "ok")
        click.echo(f"{k.name:<{width}}  {state:<7}  {k.interpreter or k.error}  [{k.display_name}]")


@kernel.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the removed kernel as JSON.")
def remove(name, as_json) -> None:
    """Remove kernel NAME (and forget it, if it is the project's kernel)."""
    from scaffolder.kernels import project as project_kernel
    from scaffolder.kernels import specs as kernels

    project = _project_or_none()
    info = kernels.remove(name, project_kernel.search_dirs(project))
    if project is not None and project.recorded.get("kernel") == info.name:
        project.record(kernel=None, kernel_prefix=None)
    if as_json:
        print_json(info.as_dict())
        return
    current_reporter().info(f"removed kernel {info.name!r} from {info.resource_dir}")


@kernel.command()
@click.option("--dry-run", is_flag=True, help="Only show what would be removed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def prune(dry_run, as_json) -> None:
    """Remove kernels whose interpreter no longer exists."""
    from scaffolder.errors import KernelError
    from scaffolder.kernels import project as project_kernel
    from scaffolder.kernels import specs as kernels

    removed, failed = kernels.prune(dry_run, project_kernel.search_dirs(_project_or_none()))
    if as_json:
        print_json({"dry_run": dry_run, "removed": [k.as_dict() for k in removed],
                    "failed": [{**k.as_dict(), "reason": why} for k, why in failed]})
    else:
        verb = "would remove" if dry_run else "removed"
        for k in removed:
            click.echo(f"{verb} {k.name}  ({k.interpreter})")
        if not removed:
            current_reporter().info("no stale kernels")
    if failed:
        names = ", ".join(f"{k.name} ({why})" for k, why in failed)
        raise KernelError(f"could not remove {len(failed)} stale kernel(s): {names}",
                          "remove them with the rights of whoever installed them")
