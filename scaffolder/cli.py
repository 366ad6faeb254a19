"""The thin Click layer: global options, lazy subcommands, and error handling.

Subcommands live in ``scaffolder.commands.*`` and are imported only when used, so
``scaffolder --help`` and ``--version`` never import cookiecutter, virtualenv or torch.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from scaffolder import __version__
from scaffolder.console import Reporter, color_enabled
from scaffolder.errors import ScaffolderError

# name -> "module:attribute". One dict, one place to register a command.
COMMANDS: dict[str, str] = {
    "check": "scaffolder.commands.check:check",
    "config": "scaffolder.commands.config:config",
    "doctor": "scaffolder.commands.doctor:doctor",
    "env": "scaffolder.commands.env:env",
    "kernel": "scaffolder.commands.kernel:kernel",
    "lock": "scaffolder.commands.lock:lock",
    "new": "scaffolder.commands.new:new",
    "templates": "scaffolder.commands.templates:templates",
    "update": "scaffolder.commands.update:update",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):
        def debug() -> bool:  # ctx.obj is set by the group callback, inside super().invoke
            return bool(ctx.obj and ctx.obj.debug)

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException:
            if debug():
                traceback.print_exc()
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as exc:
            if debug():
                raise
            raise ScaffolderError(
                f"unexpected {type(exc).__name__}: {exc}", "rerun with --debug for a traceback"
            ) from exc


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="scaffolder", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="Say more; repeat for even more.")
@click.option("-q", "--quiet", count=True, help="Say less: only errors and results.")
@click.option("--debug", is_flag=True, envvar="SCAFFOLDER_DEBUG", help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int, debug: bool) -> None:
    """From nothing to a working, reproducible AI project in one command.

    \b
    Start here:
      scaffolder new sentiment-bot        # project + env + lock + kernel
      scaffolder templates                # what you can generate

    Shell completion: eval "$(_SCAFFOLDER_COMPLETE=bash_source scaffolder)"
    (zsh_source, fish_source for other shells).
    """
    _route_library_logs(debug)
    color = color_enabled()
    if color is False:
        ctx.color = False
    ctx.obj = Reporter(verbosity=verbose - quiet, debug=debug, color=color)


def _route_library_logs(debug: bool) -> None:
    """Libraries (cookiecutter, jupyter_client, urllib3...) log errors with tracebacks; the user gets our
    one-line error instead. Without a root handler Python prints them through its last-resort handler,
    so a silent one is installed; --debug shows them all."""
    import logging

    root = logging.getLogger()
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(levelname)s: %(message)s")
    elif not root.handlers:
        root.addHandler(logging.NullHandler())


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="scaffolder")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
