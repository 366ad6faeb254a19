"""Where the CLI talks to the user: quiet/verbose levels, NO_COLOR, and --json output.

The library reports progress through a ``Reporter`` so that it never prints directly and
tests can capture what it said.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import click


@dataclass
class Reporter:
    verbosity: int = 0  # -1 quiet, 0 normal, 1+ verbose
    debug: bool = False
    color: bool | None = None
    lines: list[str] = field(default_factory=list)

    def _echo(self, msg: str, *, err: bool = True, **style) -> None:
        self.lines.append(msg)
        text = click.style(msg, **style) if style and self.color is not False else msg
        click.echo(text, err=err, color=self.color)

    def info(self, msg: str) -> None:
        if self.verbosity >= 0:
            self._echo(msg)

    def detail(self, msg: str) -> None:
        if self.verbosity >= 1:
            self._echo(msg, dim=True)

    def warn(self, msg: str) -> None:
        self._echo(f"warning: {msg}", fg="yellow")

    @contextmanager
    def step(self, name: str):
        """Announce a long step and report how long it took."""
        if self.verbosity >= 0:
            self._echo(f"==> {name}", bold=True)
        start = time.perf_counter()
        yield
        self.detail(f"    {name}: {time.perf_counter() - start:.2f}s")


def color_enabled() -> bool | None:
    # https://no-color.org: any non-empty NO_COLOR disables colour.
    return False if os.environ.get("NO_COLOR") else None


def current_reporter() -> Reporter:
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        obj = ctx.find_object(Reporter)
        if obj is not None:
            return obj
    return Reporter(color=color_enabled())


def print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def is_interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()
