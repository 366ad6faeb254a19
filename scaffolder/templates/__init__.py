"""Cookiecutter templates: where they come from and whether they are trusted (``sources``), how
they are rendered (``rendering``), the sandbox they render in (``sandbox``), and typed answers
(``answers``).

The built-in templates are not in this package: the wheel carries the repository's ``templates/``
as ``scaffolder/builtin_templates`` and :func:`builtin_root` finds them.
"""

from __future__ import annotations

from pathlib import Path


def builtin_root() -> Path:
    """The folder of built-in templates (kept here: docs and plugins call ``scaffolder.templates.builtin_root``)."""
    # lazily: importing this package (for answers or the sandbox) need not load the sources module (start-up speed)
    from scaffolder.templates.sources import builtin_root as root

    return root()
