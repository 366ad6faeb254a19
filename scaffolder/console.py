"""Where the CLI talks to the user: quiet/verbose levels, NO_COLOR, progress, and --json output.

The library reports progress through a ``Reporter`` so that it never prints directly and
tests can capture what it said. On a terminal (stderr a TTY, TERM not dumb, not -q, not --json) each
step shows a live status with its elapsed time, drawn by rich, which is imported only then; the
installers' own output lines move under the running step. Elsewhere steps are plain ``==> name`` lines.
Step timings are kept and shown at the end with -v.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import click


@dataclass
class Reporter:
    verbosity: int = 0  # -1 quiet, 0 normal, 1+ verbose
    debug: bool = False
    color: bool | None = None
    lines: list[str] = field(default_factory=list)
    live: bool | None = None  # live progress; None: when stderr is a terminal (decided at the first step)
    timings: list[tuple[str, float]] = field(default_factory=list)
    _progress: Any = field(default=None, repr=False)
    _tasks: list[Any] = field(default_factory=list, repr=False)

    def _echo(self, msg: str, *, err: bool = True, **style) -> None:
        self.lines.append(msg)
        if self._progress is not None and err:  # print above the live display, not through it
            self._progress.console.print(msg, style=_rich_style(style), markup=False, highlight=False)
            return
        text = click.style(msg, **style) if style and self.color is not False else msg
        click.echo(text, err=err, color=self.color)

    def is_live(self) -> bool:
        if self.verbosity < 0 or self.live is False:
            return False
        if self.live is None:
            self.live = _stderr_is_terminal()
        return self.live

    def progress_line(self, text: str) -> None:
        """A line of a running tool's output (uv, pip): shown beside the current step on a terminal."""
        text = text.strip()
        if text and self._progress is not None and self._tasks:
            self._progress.update(self._tasks[-1], detail=text if len(text) <= 70 else text[:67] + "...")

    def output_sink(self) -> Callable[[str], None] | None:
        """Where a tool run inside a live step should stream its output lines; None: capture it as usual."""
        return self.progress_line if self._progress is not None and self._tasks else None

    def show_timings(self) -> None:
        """-v: how long each step took, at the end."""
        if self.verbosity >= 1 and self.timings:
            self._echo("timings:", dim=True)
            for name, seconds in self.timings:
                self._echo(f"  {seconds:7.2f}s  {name}", dim=True)

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
        """Announce a long step: a live status with elapsed time on a terminal, else a plain line."""
        start = time.perf_counter()
        if not self.is_live():
            if self.verbosity >= 0:
                self._echo(f"==> {name}", bold=True)
            yield
            self.timings.append((name, time.perf_counter() - start))
            return
        progress = self._progress or self._start_progress()
        task = progress.add_task(name, detail="")
        self._tasks.append(task)
        ok = False
        try:
            yield
            ok = True
        finally:
            elapsed = time.perf_counter() - start
            self.timings.append((name, elapsed))
            self._tasks.remove(task)
            progress.remove_task(task)
            mark = ("✓" if ok else "✗") if _utf8(progress.console) else ("ok" if ok else "failed")
            self.lines.append(f"{mark} {name}")
            progress.console.print(f"{mark} {name} ({elapsed:.1f}s)", style=None if ok else "red",
                                   markup=False, highlight=False)
            if not self._tasks:
                progress.stop()
                self._progress = None

    def _start_progress(self):
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = Console(stderr=True, no_color=self.color is False or None)
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn(),
                                  TextColumn("{task.fields[detail]}", style="dim", markup=False), console=console,
                                  transient=True)
        self._progress.start()
        return self._progress


def _rich_style(style: dict[str, Any]) -> str | None:
    parts = [name for name in ("bold", "dim") if style.get(name)] + ([style["fg"]] if style.get("fg") else [])
    return " ".join(parts) or None


def _utf8(console) -> bool:  # noqa: ANN001 - rich.console.Console
    return (console.encoding or "").lower().replace("-", "").startswith("utf")


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def color_enabled() -> bool | None:
    # https://no-color.org: any non-empty NO_COLOR disables colour.
    return False if os.environ.get("NO_COLOR") else None


def print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def is_interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


# Old spellings already noted in this process: a project can be loaded twice in one command
# (``update`` reloads it after its merge), and one note per spelling is enough.
_DEPRECATED_NOTED: set[str] = set()


def deprecated(old: str, new: str) -> None:
    """One line on stderr (at most once per process per spelling) for a spelling kept one more release:
    ``note: OLD is deprecated, use NEW (OLD will be removed in the next release)``."""
    if old in _DEPRECATED_NOTED:
        return
    _DEPRECATED_NOTED.add(old)
    click.echo(f"note: {old} is deprecated, use {new} ({old} will be removed in the next release)", err=True)
