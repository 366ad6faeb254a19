"""``scaffolder update``: re-apply a newer template with the recorded answers, as a 3-way merge.

base = the template at the recorded version, rendered with the recorded answers;
theirs = the template at the new version, rendered with the same answers (new questions get
their defaults, or a prompt); ours = the project as it is. Each file is merged with
``git merge-file``; conflicts are left as markers and reported. Template hooks never run on
update: they are one-time setup, and re-running them is a known cruft complaint.

Trust is decided again on every update, as ``new`` decides it: a template version that has hooks or
extensions needs --trust (or a yes at the prompt, or the team's ``policy.trusted_templates``), and
renders in the sandbox otherwise; links that leave it need --allow-outside-links.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffolder import config, tomlfile
from scaffolder.config import Settings
from scaffolder.console import Reporter
from scaffolder.envs import manager_for
from scaffolder.errors import ScaffolderError, TemplateError, UsageError
from scaffolder.fsutil import atomic_write_bytes
from scaffolder.lifecycle.gitrepo import describe_head
from scaffolder.lifecycle.new import decide_trust
from scaffolder.project import Project, toml_value
from scaffolder.templates import rendering
from scaffolder.templates import sources as tpl
from scaffolder.transaction import Transaction


class DirtyTree(ScaffolderError):
    pass


@dataclass
class UpdateResult:
    from_version: str
    to_version: str
    added: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # the template dropped them, but you changed them
    new_answers: dict[str, Any] = field(default_factory=dict)
    dependencies_changed: bool = False
    relocked: bool = False
    base_available: bool = True
    git_base: str | None = None  # "HASH subject" of the clean commit the update started from

    @property
    def up_to_date(self) -> bool:
        return self.from_version == self.to_version

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["up_to_date"] = self.up_to_date
        return data


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)


def check_clean(root: Path) -> str | None:
    """Refuse a tree with uncommitted changes; return the clean commit (``HASH subject``) it sits on."""
    inside = _git(root, "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0:
        raise DirtyTree(
            f"{root} is not a git repository, so an update could not be reviewed or undone",
            "run 'git init && git add -A && git commit -m init' first, or pass --allow-dirty",
        )
    status = _git(root, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    if status.stdout.strip():
        changed = len(status.stdout.strip().splitlines())
        raise DirtyTree(
            f"{root} has {changed} uncommitted change(s)", "commit or stash them first, or pass --allow-dirty"
        )
    return describe_head(root)


@dataclass
class Trust:
    """What this update may do: ``flag`` is --trust, ``policy`` the team's trusted list, ``confirm`` the
    prompt (None: never ask). A yes at the prompt covers both renders of one update."""

    flag: bool = False
    policy: bool = False
    allow_outside_links: bool = False
    confirm: Callable[[tpl.FetchedTemplate], bool] | None = None
    granted: bool = False  # a yes already given during this update

    def decide(self, fetched: tpl.FetchedTemplate) -> bool:
        trusted = decide_trust(fetched, self.flag or self.policy or self.granted, self.confirm)
        self.granted = self.granted or (trusted and bool(fetched.runs_code()))
        return trusted


def _render(spec: str, checkout: str | None, answers: dict[str, Any], work: Path,
            ask_new: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
            trust: Trust | None = None,
            ) -> tuple[tpl.FetchedTemplate, dict[str, Any], Path]:
    """Render with the recorded answers; questions the template added get defaults or ``ask_new``.

    Hooks never run; extensions load and rendering leaves the sandbox only when ``trust`` decides so."""
    trust = trust or Trust()
    source = tpl.resolve(spec, checkout, trust=trust.flag)
    work.mkdir(parents=True)
    fetched = tpl.fetch(source, work, allow_outside_links=trust.allow_outside_links)
    try:
        trusted = trust.decide(fetched)
        variables = tpl.read_template_json(fetched.repo_dir)
        known = {k: v for k, v in answers.items() if k in variables}
        full = rendering.build_answers(fetched.repo_dir, known, no_input=True, trusted=trusted, source=source)
        fresh = {k: v for k, v in rendering.public_answers(full).items() if k not in answers}
        if fresh and ask_new is not None:
            known.update(ask_new(fresh))
            full = rendering.build_answers(fetched.repo_dir, known, no_input=True, trusted=trusted, source=source)
        out = work / "render"
        out.mkdir()
        return fetched, full, rendering.render(fetched, full, out, accept_hooks=False, trusted=trusted)
    except BaseException:
        fetched.cleanup()
        raise


def newer_template_version(project: Project) -> str | None:
    """The template's current version when it differs from the recorded one; None when current or unknown
    (a template that cannot be reached now, e.g. offline, is not drift)."""
    spec = project.recorded.get("template")
    if not spec:
        return None
    try:
        source = tpl.resolve(spec)
        with tempfile.TemporaryDirectory(prefix="scaffolder-check-") as tmp:
            fetched = tpl.fetch(source, Path(tmp), allow_outside_links=True)  # read its version, render nothing
            fetched.cleanup()
    except ScaffolderError:
        return None
    recorded = str(project.recorded.get("template_version", ""))
    return None if fetched.version in (recorded, "unversioned") else fetched.version


def _files(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)).replace(os.sep, "/"): p
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def _merge_text(ours: bytes, base: bytes, theirs: bytes, work: Path) -> tuple[bytes, bool]:
    """git merge-file: returns the merged bytes and whether it left conflict markers."""
    if b"\0" in ours + base + theirs:  # binary: take theirs only if you did not change it
        return (theirs, False) if ours == base else (ours, True)
    paths = []
    for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
        path = work / f"merge-{name}"
        path.write_bytes(data)
        paths.append(str(path))
    proc = subprocess.run(
        ["git", "merge-file", "-p", "-L", "yours", "-L", "template (old)", "-L", "template (new)", "--", *paths],
        capture_output=True,
    )
    if proc.returncode < 0 or proc.returncode > 127:
        raise TemplateError(f"git merge-file failed: {proc.stderr.decode(errors='replace').strip()}",
                            "check that git is installed and on PATH")
    return proc.stdout, proc.returncode > 0


def _dependencies(pyproject_text: str) -> Any:
    try:
        data = tomlfile.loads(pyproject_text)
    except tomlfile.TOMLDecodeError:
        return None
    project = data.get("project", {})
    return (project.get("dependencies"), project.get("optional-dependencies"), data.get("dependency-groups"))


def _without_settings(pyproject_text: str) -> str:
    import tomlkit

    doc = tomlkit.parse(pyproject_text)
    tool = doc.get("tool")
    if tool is not None and "scaffolder" in tool:
        del tool["scaffolder"]
        if not tool:
            del doc["tool"]
    return tomlkit.dumps(doc).rstrip("\n") + "\n"  # the blank line that preceded the table goes too


def _with_settings(pyproject_text: str, settings: dict[str, Any], conflicted: bool = False) -> str:
    """Put [tool.scaffolder] back; a file with conflict markers is no TOML, so the table is appended."""
    import tomlkit

    table = tomlkit.table()
    for key, value in settings.items():
        table[key] = toml_value(value)
    if conflicted:
        return pyproject_text.rstrip("\n") + "\n\n" + tomlkit.dumps({"tool": {"scaffolder": table}})
    doc = tomlkit.parse(pyproject_text)
    doc.setdefault("tool", tomlkit.table(is_super_table=True))["scaffolder"] = table
    return tomlkit.dumps(doc)


def update_project(
    project: Project,
    to: str | None = None,
    allow_dirty: bool = False,
    ask_new: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    reporter: Reporter | None = None,
    dry_run: bool = False,
    trust: bool = False,
    allow_outside_links: bool = False,
    confirm_trust: Callable[[tpl.FetchedTemplate], bool] | None = None,
    settings: Settings | None = None,
) -> UpdateResult:
    """``trust``/``confirm_trust``/``allow_outside_links`` work as in ``new`` (see :class:`Trust`).
    ``settings``: the command's (None: resolved here, once)."""
    reporter = reporter or Reporter()
    settings = settings if settings is not None else config.load(project=project)
    recorded = dict(project.recorded)
    spec = recorded.get("template")
    if not spec:
        raise UsageError("[tool.scaffolder] records no template", "this project was not made by 'scaffolder new'")
    tpl.check_ref(to)
    decision = Trust(trust, config.template_trusted(spec, settings), allow_outside_links, confirm_trust)
    old_version = str(recorded.get("template_version", ""))
    answers = dict(recorded.get("answers", {}))
    git_base = check_clean(project.root) if not allow_dirty and not dry_run else None

    with tempfile.TemporaryDirectory(prefix="scaffolder-update-") as tmp:
        work = Path(tmp)
        with reporter.step(f"render {spec} ({to or 'latest'})"):
            new_fetched, new_answers, new_dir = _render(spec, to, answers, work / "new", ask_new, decision)
        try:
            result = UpdateResult(old_version, new_fetched.version, git_base=git_base)
            result.new_answers = {k: v for k, v in rendering.public_answers(new_answers).items() if k not in answers}
            if result.up_to_date:
                return result
            base_dir = None
            if old_version and old_version != "unversioned":
                try:
                    with reporter.step(f"render {spec} ({old_version[:12]}) as the merge base"):
                        base_fetched, _, base_dir = _render(spec, old_version, answers, work / "base",
                                                            trust=decision)
                    base_fetched.cleanup()
                except TemplateError as exc:
                    reporter.warn(f"the recorded template version cannot be rendered ({exc}); "
                                  "every file you changed is reported as a conflict")
            result.base_available = base_dir is not None
            new_settings = {
                **recorded,
                "template_version": new_fetched.version,
                "answers": {**answers, **result.new_answers},
            }
            writes = _plan(project.root, base_dir, new_dir, new_settings, work, result)
            if not dry_run:
                _apply(project.root, writes)
                _relock_if_needed(project.root, result, reporter, settings)
            return result
        finally:
            new_fetched.cleanup()


def _plan(root: Path, base_dir: Path | None, new_dir: Path, new_settings: dict[str, Any], work: Path,
          result: UpdateResult) -> dict[str, bytes | None]:
    """What to write (bytes) or delete (None), relative to the project root."""
    base = _files(base_dir) if base_dir else {}
    new = _files(new_dir)
    writes: dict[str, bytes | None] = {}
    for rel in sorted(set(base) | set(new)):
        target = root / rel
        ours = target.read_bytes() if target.is_file() else None
        theirs = new[rel].read_bytes() if rel in new else None
        old = base[rel].read_bytes() if rel in base else None
        if rel == "pyproject.toml" and ours is not None and theirs is not None:
            # [tool.scaffolder] is ours alone: merge without it (it sits at the end, where template
            # edits would touch it), then put the updated table back.
            merged, conflict = _merge_text(_without_settings(ours.decode()).encode(), old or b"", theirs, work)
            writes[rel] = _with_settings(merged.decode(), new_settings, conflict).encode()
            (result.conflicts if conflict else result.merged).append(rel)
            continue
        if theirs is None:  # the template dropped the file
            if ours is not None and ours == old:
                writes[rel] = None
                result.removed.append(rel)
            elif ours is not None:
                result.kept.append(rel)
            continue
        if ours is None:
            if old is None or not result.base_available:  # new in the template
                writes[rel] = theirs
                result.added.append(rel)
            continue  # you deleted it: stay deleted
        if ours == theirs or old == theirs:
            continue
        if old == ours and old is not None:
            writes[rel] = theirs
            result.merged.append(rel)
            continue
        merged, conflict = _merge_text(ours, old or b"", theirs, work)
        writes[rel] = merged
        (result.conflicts if conflict else result.merged).append(rel)
    if "pyproject.toml" in writes and writes["pyproject.toml"] is not None:
        current = (root / "pyproject.toml").read_text()
        result.dependencies_changed = _dependencies(current) != _dependencies(writes["pyproject.toml"].decode())
    return writes


def _relock_if_needed(root: Path, result: UpdateResult, reporter: Reporter, settings: Settings) -> None:
    """Re-pin when the merge changed the dependencies of a locked project. The merge itself stands
    if locking fails (say, offline): the lock is written atomically, so the old one stays intact."""
    if not result.dependencies_changed or "pyproject.toml" in result.conflicts:
        return
    project = Project.load(root)  # the merge rewrote pyproject.toml
    if not project.recorded.get("lock"):
        return
    settings = settings.with_project(project)
    try:
        manager_for(settings.get("env")).lock(project, settings, reporter=reporter)
        result.relocked = True
    except ScaffolderError as exc:
        reporter.warn(f"dependencies changed but relocking failed: {exc.format_message()}; run 'scaffolder lock'")


def _apply(root: Path, writes: dict[str, bytes | None]) -> None:
    """Write every change atomically; if one fails, put back what was there."""
    with Transaction() as txn:
        for rel, data in writes.items():
            target = root / rel
            txn.guard(target)
            if data is None:
                target.unlink()
            else:
                missing = [p for p in reversed(Path(rel).parents) if str(p) != "." and not (root / p).exists()]
                for d in missing:
                    (root / d).mkdir()
                    txn.created_path(root / d)
                atomic_write_bytes(target, data)
