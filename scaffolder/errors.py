"""One exception hierarchy, so every failure reaches the user as one line and an exit code.

Exit codes: 0 ok, 1 failure, 2 usage error, 3 drift found by ``check`` (or ``lock --check``),
4 merge conflicts left by ``update``.
"""

from __future__ import annotations

import click

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3
EXIT_CONFLICT = 4


class ScaffolderError(click.ClickException):
    """A failure the user can act on. ``hint`` says how to fix it."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(message)

    def format_message(self) -> str:
        # One line: the problem, then the fix.
        msg = " ".join(str(self.message).split())
        return f"{msg} ({self.hint})" if self.hint else msg

    def __str__(self) -> str:
        return self.format_message()

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"error: {self.format_message()}", err=True)


class UsageError(ScaffolderError):
    """Bad arguments or bad input data."""

    exit_code = EXIT_USAGE


class InvalidName(UsageError):
    pass


class InvalidAnswer(UsageError):
    pass


class TemplateError(ScaffolderError):
    """A template could not be found, loaded or rendered."""


class UntrustedTemplate(ScaffolderError):
    pass


class DestinationExists(ScaffolderError):
    pass


class UnsafePath(ScaffolderError):
    pass


class ProjectNotFound(ScaffolderError):
    pass


class StepFailed(ScaffolderError):
    """A step of a multi-step command failed; the message names the step."""

    def __init__(self, step: str, message: str, hint: str | None = None) -> None:
        self.step = step
        super().__init__(f"{step} failed: {message}", hint)


class EnvError(ScaffolderError):
    pass


class LockError(ScaffolderError):
    pass


class KernelError(ScaffolderError):
    pass


class KernelExists(KernelError):
    """A kernel of that name already runs another environment."""


class DriftFound(ScaffolderError):
    exit_code = EXIT_DRIFT


class MergeConflicts(ScaffolderError):
    """``update`` merged the new template version but left conflict markers to resolve."""

    exit_code = EXIT_CONFLICT


class NotReady(ScaffolderError):
    """``doctor`` found something ``new`` needs missing on this machine."""


class Busy(ScaffolderError):
    """Another scaffolder process holds the project lock."""
