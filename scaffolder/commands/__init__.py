"""Click commands, one module each; ``scaffolder.cli.COMMANDS`` loads them on demand.

Commands hand the library the reporter the CLI made (``current_reporter``); nothing below this layer
looks at the click context.

Start-up speed: commands import the library lazily, inside their functions, never at module level, because
``scaffolder --help`` loads every command module and must not load cookiecutter, rich, virtualenv or
torch (tests/test_cli.py checks ``sys.modules``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from scaffolder.console import Reporter, color_enabled, deprecated


def current_reporter() -> Reporter:
    """The reporter ``scaffolder``'s global options made (-q/-v/--debug), else a default one."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        obj = ctx.find_object(Reporter)
        if obj is not None:
            return obj
    return Reporter(color=color_enabled())


def renamed_option(old: str, new: str, **attrs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Keep ``old``, an option renamed to ``new``, working for one more release, with a note on stderr.

    Put it under the ``new`` option and give it what the old option took (``type``, ``metavar``)::

        @click.option("--checkout", metavar="REF", help="...")
        @renamed_option("--to", "--checkout", metavar="REF")
        def update(checkout, ...): ...

    ``old`` is hidden from ``--help``; its value reaches the command as ``new``'s parameter (here
    ``checkout``), after one line on stderr:
    ``note: --to is deprecated, use --checkout (--to will be removed in the next release)``.
    Giving both is a usage error. Delete the line in the next release.
    """
    from click.core import ParameterSource

    dest = new.lstrip("-").replace("-", "_").lower()
    hidden = "renamed_" + old.lstrip("-").replace("-", "_").lower()

    def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def command(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(hidden)
            if value is not None:
                from scaffolder.errors import UsageError

                ctx = click.get_current_context()
                if ctx.get_parameter_source(dest) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
                    raise UsageError(f"{old} and {new} exclude each other", f"pass only {new}")
                deprecated(old, new)
                kwargs[dest] = value
            return f(*args, **kwargs)

        return click.option(old, hidden, hidden=True, default=None, **attrs)(command)

    return decorator
