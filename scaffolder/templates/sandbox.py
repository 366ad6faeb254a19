"""The Jinja environment for templates that are not trusted: cookiecutter's, inside Jinja's sandbox.

cookiecutter renders with a plain ``jinja2.Environment``, where ``{{ cycler.__init__.__globals__.os }}``
reaches the ``os`` module. Jinja's ``SandboxedEnvironment`` refuses attribute access to such internals
(anything starting with ``_``, function globals, frames) and raises ``SecurityError`` instead; copier
renders every template this way. cookiecutter's own extensions (jsonify, random_ascii_string, slugify,
``{% now %}``, uuid4) are loaded as usual; they only format values.
"""

from __future__ import annotations

from typing import Any

from cookiecutter.environment import ExtensionLoaderMixin
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment


class SandboxedStrictEnvironment(ExtensionLoaderMixin, SandboxedEnvironment):
    """cookiecutter's ``StrictEnvironment`` (undefined variables are errors), sandboxed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(undefined=StrictUndefined, **kwargs)
