"""Click commands, one module each; ``scaffolder.cli.COMMANDS`` loads them on demand.

Commands hand the library the reporter the CLI made (``current_reporter``); nothing below this layer
looks at the click context.

Start-up speed: commands import the library inside their functions, never at module level, because
``scaffolder --help`` loads every command module and must not load cookiecutter, rich, virtualenv or
torch (tests/test_cli.py checks ``sys.modules``).
"""

from __future__ import annotations

import click

from scaffolder.console import Reporter, color_enabled


def current_reporter() -> Reporter:
    """The reporter ``scaffolder``'s global options made (-q/-v/--debug), else a default one."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        obj = ctx.find_object(Reporter)
        if obj is not None:
            return obj
    return Reporter(color=color_enabled())
