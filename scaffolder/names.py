"""Turn a project NAME into the three names a Python project needs.

- ``dist``: the distribution name, normalised per PEP 503 (``my-project``);
- ``package``: the import package, a valid identifier (``my_project``);
- ``slug``: a directory and Jupyter kernel name, ``[a-z0-9._-]`` only.
"""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass

from scaffolder.errors import InvalidName

# PEP 508 names: letters, digits, '.', '_', '-'; start and end alphanumeric.
_PEP508 = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_KERNEL_UNSAFE = re.compile(r"[^a-z0-9._-]+")
MAX_LENGTH = 64

# Names that would shadow something every project imports, beyond the stdlib.
_RESERVED = {"test", "tests", "site", "setup", "src", "scaffolder", "torch", "transformers"}


@dataclass(frozen=True)
class ProjectNames:
    name: str
    dist: str
    package: str
    slug: str


def _suggest(raw: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", raw).strip("-").lower()
    if not cleaned:
        return "my-project"
    if cleaned[0].isdigit():
        cleaned = f"project-{cleaned}"
    return cleaned


def project_names(raw: str) -> ProjectNames:
    """Validate ``raw`` and derive its names, or raise InvalidName naming the broken rule."""
    name = raw.strip()
    if not name:
        raise InvalidName("project name is empty", "pass a name such as 'sentiment-bot'")
    if len(name) > MAX_LENGTH:
        raise InvalidName(
            f"project name {raw!r} is longer than {MAX_LENGTH} characters",
            f"try {_suggest(name)[:MAX_LENGTH]!r}",
        )
    if not _PEP508.match(name):
        raise InvalidName(
            f"project name {raw!r} breaks PEP 508: use letters, digits, '.', '_' and '-', "
            "starting and ending with a letter or digit",
            f"try {_suggest(name)!r}",
        )
    dist = re.sub(r"[-_.]+", "-", name).lower()
    package = dist.replace("-", "_").replace(".", "_")
    if not package.isidentifier() or package[0].isdigit():
        raise InvalidName(
            f"project name {raw!r} gives import package {package!r}, which does not start with a letter",
            f"try {_suggest(name)!r}",
        )
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        raise InvalidName(
            f"project name {raw!r} gives import package {package!r}, a Python keyword",
            f"try '{dist}-project'",
        )
    if package in sys.stdlib_module_names or package in _RESERVED:
        raise InvalidName(
            f"project name {raw!r} gives import package {package!r}, which shadows the module of that name",
            f"try 'my-{dist}'",
        )
    slug = _KERNEL_UNSAFE.sub("-", dist)
    return ProjectNames(name=name, dist=dist, package=package, slug=slug)


def kernel_name(text: str) -> str:
    """Sanitise any text into a Jupyter kernel name (``[a-z0-9._-]``)."""
    cleaned = _KERNEL_UNSAFE.sub("-", text.lower()).strip("-.")
    if not cleaned:
        raise InvalidName(f"kernel name {text!r} has no usable characters", "use letters and digits")
    return cleaned
