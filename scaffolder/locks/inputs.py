"""What a lock is made from, and a fingerprint of it that tells when the lock is stale.

Main set: ``requirements.in`` if the project has one, else ``[project].dependencies`` plus the
optional-dependencies extras the project chose (``extras`` in [tool.scaffolder]). Dev set:
``requirements-dev.in`` if present, else every ``[dependency-groups]`` group. References to the
project itself (``me[extra]``) stand for that extra's requirements; the project's own code is not locked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffolder.errors import LockError, UsageError
from scaffolder.locks.lockfile import canonical_name
from scaffolder.locks.torch_variant import TORCH_PACKAGES
from scaffolder.project import Project

REQUIREMENTS_IN = "requirements.in"
REQUIREMENTS_DEV_IN = "requirements-dev.in"
ALL_EXTRAS = "*"


@dataclass
class InputSet:
    label: str  # "main" or "dev"
    source: str  # the file the inputs came from, used in "# via" notes
    description: str  # for the lock header
    requirements: list[str] = field(default_factory=list)  # normalised requirement strings
    files: list[Path] = field(default_factory=list)  # requirements files passed with -r

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.files

    def lines(self) -> list[str]:
        """Requirement lines as a resolver reads them; file contents stand for file inputs."""
        lines = list(self.requirements)
        for path in self.files:
            lines += _significant_lines(path.read_text(encoding="utf-8"))
        return lines

    def names(self) -> set[str]:
        from packaging.requirements import InvalidRequirement, Requirement

        names = set()
        for line in self.lines():
            try:
                names.add(canonical_name(Requirement(line).name))
            except InvalidRequirement:
                continue
        return names


@dataclass
class LockInputs:
    main: InputSet
    dev: InputSet

    @property
    def uses_torch(self) -> bool:
        return bool((self.main.names() | self.dev.names()) & TORCH_PACKAGES)


def project_extras(project: Project) -> list[str] | str:
    """The optional-dependencies extras the project locks (``extras`` in [tool.scaffolder]; "*": all)."""
    extras = project.recorded.get("extras") or []
    return extras if extras == ALL_EXTRAS else list(extras)


def project_inputs(project: Project, extras: Sequence[str] | str | None = None) -> LockInputs:
    """What the project's lock is made from, with ``extras`` (None: the ones it chose), gathered once
    per command: the result is kept in ``project.memo``."""
    extras = project_extras(project) if extras is None else extras
    key = ("lock inputs", extras if isinstance(extras, str) else tuple(extras))
    if key not in project.memo:
        project.memo[key] = gather(project.root, project.pyproject, extras)
    return project.memo[key]


def gather(root: Path, pyproject: dict[str, Any], extras: Sequence[str] | str = ()) -> LockInputs:
    """The project's lock inputs; ``extras`` names the optional-dependencies extras that go into the
    main set (``"*"`` for every one). Like pip, uv and poetry, none by default."""
    root = Path(root)
    project = pyproject.get("project", {})
    me = canonical_name(project.get("name", "")) if project.get("name") else None
    if (root / REQUIREMENTS_IN).is_file():
        main = InputSet("main", REQUIREMENTS_IN, REQUIREMENTS_IN, files=[root / REQUIREMENTS_IN])
    else:
        if "dependencies" in project.get("dynamic", []):
            raise LockError("[project].dependencies is dynamic, so it cannot be locked",
                            f"list the dependencies in {REQUIREMENTS_IN}")
        available = project.get("optional-dependencies", {}) or {}
        chosen = list(available) if extras == ALL_EXTRAS else [canonical_name(e) for e in extras]
        by_name = {canonical_name(k): k for k in available}
        unknown = [e for e in chosen if canonical_name(e) not in by_name]
        if unknown:
            raise UsageError(f"the project has no extra {', '.join(map(repr, unknown))}",
                             f"its extras are: {', '.join(available) or 'none'}")
        reqs = list(project.get("dependencies", []) or [])
        for extra in chosen:
            reqs += list(available[by_name[canonical_name(extra)]])
        reqs = _expand_self(reqs, available, me)
        description = "pyproject.toml [project] dependencies"
        if chosen:
            description += f" and extras ({', '.join(by_name[canonical_name(e)] for e in chosen)})"
        main = InputSet("main", "pyproject.toml", description, requirements=_normalise(reqs, me))
    if (root / REQUIREMENTS_DEV_IN).is_file():
        dev = InputSet("dev", REQUIREMENTS_DEV_IN, REQUIREMENTS_DEV_IN, files=[root / REQUIREMENTS_DEV_IN])
    else:
        groups = pyproject.get("dependency-groups", {}) or {}
        reqs = []
        for name in groups:
            reqs += _expand_group(groups, name, ())
        reqs = _expand_self(reqs, project.get("optional-dependencies", {}) or {}, me)
        description = f"pyproject.toml [dependency-groups] ({', '.join(groups)})" if groups else "none"
        dev = InputSet("dev", "pyproject.toml", description, requirements=_normalise(reqs, me))
    return LockInputs(main, dev)


def fingerprint(inputs: InputSet, *, python: str, torch: str | None, base: str | None = None,
                platforms: list[str] | None = None) -> str:
    """sha256 of everything that decides the lock's content; ``base`` chains dev to main; ``platforms``
    (sorted) is the set a universal lock covers."""
    data = {
        "format": 1,
        "set": inputs.label,
        "requirements": sorted(inputs.lines()),
        "python": python,
        "torch": torch,
        "base": base,
    }
    if platforms is not None:
        data["platforms"] = list(platforms)
    return "sha256:" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _normalise(reqs: list[str], me: str | None) -> list[str]:
    from packaging.requirements import InvalidRequirement, Requirement

    out: dict[str, None] = {}
    for text in reqs:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise UsageError(f"pyproject.toml has an invalid requirement {text!r}: {exc}",
                             "fix it in pyproject.toml") from None
        if me and canonical_name(req.name) == me:
            continue
        req.name = canonical_name(req.name)
        out[str(req)] = None
    return list(out)


def _expand_self(reqs: list[str], available: dict[str, Any], me: str | None, seen: tuple[str, ...] = ()
                 ) -> list[str]:
    """Replace references to the project itself (``me[extra]``) by that extra's requirements."""
    from packaging.requirements import InvalidRequirement, Requirement

    by_name = {canonical_name(k): k for k in available}
    out: list[str] = []
    for text in reqs:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            out.append(text)  # _normalise reports it
            continue
        if not (me and canonical_name(req.name) == me):
            out.append(text)
            continue
        for extra in req.extras:
            key = by_name.get(canonical_name(extra))
            if key is not None and key not in seen:
                out += _expand_self(list(available[key]), available, me, (*seen, key))
    return out


def _expand_group(groups: dict[str, Any], name: str, seen: tuple[str, ...]) -> list[str]:
    if name in seen:
        raise UsageError(f"dependency group {name!r} includes itself", "fix [dependency-groups] in pyproject.toml")
    if name not in groups:
        raise UsageError(f"dependency group {name!r} does not exist", "fix [dependency-groups] in pyproject.toml")
    reqs: list[str] = []
    for item in groups[name]:
        if isinstance(item, dict) and "include-group" in item:
            reqs += _expand_group(groups, item["include-group"], (*seen, name))
        elif isinstance(item, str):
            reqs.append(item)
    return reqs


def _significant_lines(text: str) -> list[str]:
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines
