from __future__ import annotations

import click

from scaffolder.commands import current_reporter, renamed_option
from scaffolder.console import print_json


@click.command()
@click.option("--upgrade", is_flag=True, help="Move every package to its newest allowed version.")
@click.option("--upgrade-package", "upgrade_packages", multiple=True, metavar="PKG",
              help="Move only PKG to its newest allowed version (repeatable).")
@click.option("--torch", default=None, metavar="auto|cpu|cuXYZ[,cuXYZ...]",
              help="PyTorch build(s) to lock; the first goes into requirements.lock, each further one into "
                   "requirements.<variant>.lock, and env sync picks per machine; recorded in the project  "
                   "[default: the project's, else auto]")
@click.option("--installer", type=click.Choice(["uv", "pip"]), default=None,
              help="Resolve with uv pip compile or pip-tools' pip-compile  [default: the project's]")
@click.option("--platform", "platforms", multiple=True, metavar="NAME[,NAME...]",
              help="Platforms the lock covers, e.g. linux-x86_64,macos-arm64 (repeatable); recorded in the project  "
                   "[default: the project's, else the team's, else linux-x86_64, linux-aarch64, macos-arm64, "
                   "windows-x86_64]")
@click.option("--extra", "extras", multiple=True, metavar="NAME",
              help="Lock this optional-dependencies extra too (repeatable); recorded in the project.")
@click.option("--all-extras", is_flag=True, help="Lock every optional-dependencies extra; recorded.")
@click.option("--no-extras", is_flag=True, help="Lock no extras (forget the recorded ones).")
@click.option("--env", type=click.Choice(["venv", "conda"]), default=None,
              help="Environment kind  [default: the project's, else venv]")
@renamed_option("--backend", "--env", type=click.Choice(["venv", "conda"]))
@click.option("--check", "check_only", is_flag=True, help="Only say whether the lock is fresh (exit 3 if not).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def lock(upgrade, upgrade_packages, torch, installer, platforms, extras, all_extras, no_extras, env, check_only,
         as_json) -> None:
    """Pin the project's dependencies with hashes into requirements.lock and requirements-dev.lock."""
    from scaffolder import config
    from scaffolder.envs import manager_for
    from scaffolder.errors import DriftFound, UsageError
    from scaffolder.locks.inputs import ALL_EXTRAS
    from scaffolder.locks.platforms import parse_platforms
    from scaffolder.locks.torch_variant import validate_variant
    from scaffolder.mutex import project_mutex
    from scaffolder.project import Project

    torch_variants = None
    if torch is not None:
        builds = [validate_variant(t) for t in torch.split(",") if t.strip()]
        torch, torch_variants = (builds[0] if builds else "auto"), builds[1:]
        if "auto" in torch_variants:
            raise UsageError("only the first --torch build may be auto", "name the others, e.g. --torch auto,cu126")
    if sum(map(bool, (extras, all_extras, no_extras))) > 1:
        raise UsageError("--extra, --all-extras and --no-extras exclude each other", "pass only one kind")
    chosen = list(extras) if extras else ALL_EXTRAS if all_extras else [] if no_extras else None
    project = Project.find()
    chosen_platforms = list(parse_platforms(platforms)) if platforms else None
    settings = config.load(cli=dict(torch=torch, installer=installer, env=env, platforms=chosen_platforms,
                                    torch_variants=torch_variants), project=project)
    manager = manager_for(settings.get("env"))
    reporter = current_reporter()
    if check_only:
        states = {name: {"state": s, "detail": d} for name, (s, d) in manager.lock_states(project, settings).items()}
        if as_json:
            print_json(states)
        stale = [v["detail"] for v in states.values() if v["state"] != "fresh"]
        if stale:
            raise DriftFound("; ".join(stale), "run 'scaffolder lock'")
        if not as_json:
            reporter.info("the lock is fresh")
        return
    with project_mutex(project.root, reporter):
        kwargs = {} if chosen is None else {"extras": chosen}
        result = manager.lock(project, settings, upgrade=upgrade, upgrade_packages=upgrade_packages,
                              reporter=reporter, **kwargs)
    data = result.as_dict()
    if as_json:
        print_json(data)
        return
    written = ", ".join(data["written"]) or "nothing (already up to date)"
    covers = f" for {', '.join(data['platforms'])}" if data.get("platforms") else ""
    reporter.info(f"locked {data['packages']} packages (+{data['dev_packages']} for dev){covers}; wrote {written}")
