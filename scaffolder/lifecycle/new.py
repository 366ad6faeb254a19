"""``scaffolder new`` as one transaction: render, place, then the project's post-render steps.

Post-render steps (environment, lock, install, kernel) are registered in ``POST_RENDER_STEPS``;
each one undoes its own work through the transaction if a later step fails.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffolder import __version__, config
from scaffolder.console import Reporter
from scaffolder.errors import DestinationExists, InvalidName, ScaffolderError, StepFailed, UntrustedTemplate
from scaffolder.fsutil import atomic_copy, temporary_dir_beside
from scaffolder.kernels.project import applies_to_new, register_for_new
from scaffolder.lifecycle import gitrepo
from scaffolder.lifecycle.new_options import NewOptions, Step, StepContext
from scaffolder.lifecycle.new_steps import STEPS
from scaffolder.lifecycle.summary import next_steps, summarize
from scaffolder.names import project_names
from scaffolder.project import write_recorded
from scaffolder.templates import rendering
from scaffolder.templates import sources as tpl
from scaffolder.templates.answers import load_answers_file
from scaffolder.transaction import Transaction


@dataclass
class NewResult:
    project_dir: Path
    template: str
    template_version: str
    answers: dict[str, Any]
    files: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    runs_code: list[str] = field(default_factory=list)
    dry_run: bool = False
    # What `new` made, for the summary: env, python, packages, torch, kernel, git, seconds (see summarize)
    summary: dict[str, Any] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "project_dir": str(self.project_dir),
            "template": self.template,
            "template_version": self.template_version,
            "answers": self.answers,
            "files": self.files,
            "steps": self.steps,
            "runs_code": self.runs_code,
            "dry_run": self.dry_run,
            "summary": self.summary,
            "next_steps": self.next_steps,
        }


_FORCE_HINT = "choose another name, or pass --force to overwrite template files"

# The steps after rendering, in order (each a ``new_options.Step``). Later steps can rely on earlier ones.
POST_RENDER_STEPS: list[Step] = []


def planned_steps(options: NewOptions) -> list[str]:
    return ["render template", "move into place"] + [name for name, applies, _ in POST_RENDER_STEPS if applies(options)]


AUTHOR_VARIABLES = ("author_name", "full_name", "author")
EMAIL_VARIABLES = ("email", "author_email")


def _check_builtin_names(answers: dict[str, Any]) -> None:
    """The built-in templates make a Python package: their derived names must be valid ones."""
    slug = str(answers.get("project_slug", ""))
    try:
        names = project_names(slug)
    except InvalidName as exc:
        raise InvalidName(f"{answers.get('project_name')!r} gives the project slug {slug!r}, which is not a "
                          f"usable Python project name: {exc.message}", exc.hint) from None
    package = answers.get("package_name")
    if package != names.package:
        raise InvalidName(f"package_name {package!r} is not a valid import name for {names.dist!r}",
                          f"use {names.package!r}")


def git_identity() -> dict[str, str]:
    """Prompt defaults for author and email from ``git config`` (the user's own answers still win)."""
    have = gitrepo.identity(Path.cwd())
    found: dict[str, str] = {}
    for key, variables in (("user.name", AUTHOR_VARIABLES), ("user.email", EMAIL_VARIABLES)):
        if key in have:
            found.update(dict.fromkeys(variables, have[key]))
    return found


def provenance(fetched: tpl.FetchedTemplate, answers: dict[str, Any]) -> dict[str, Any]:
    return {
        "template": fetched.source.spec,
        "template_version": fetched.version,
        "scaffolder_version": __version__,
        "answers": rendering.public_answers(answers),
    }


def _list_files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)).replace(os.sep, "/") for p in root.rglob("*") if p.is_file() or p.is_symlink()
    )


def _place(rendered: Path, dest: Path, force: bool, txn: Transaction) -> None:
    """Move the rendered project to ``dest``; with ``force``, overwrite only files the template makes."""
    if not dest.exists():
        os.replace(rendered, dest)
        txn.created_path(dest)
        return
    if not dest.is_dir():
        raise DestinationExists(f"{dest} exists and is not a directory", "choose another name or --output-dir")
    if not any(dest.iterdir()):
        dest.rmdir()
        txn.on_rollback(f"recreate empty {dest}", lambda: dest.mkdir(exist_ok=True))
        os.replace(rendered, dest)
        txn.created_path(dest)
        return
    if not force:
        raise DestinationExists(f"{dest} already exists and is not empty", _FORCE_HINT)
    for rel in _list_files(rendered):
        src, target = rendered / rel, dest / rel
        missing_dirs = [p for p in reversed(target.relative_to(dest).parents) if not (dest / p).exists()]
        for d in missing_dirs:
            (dest / d).mkdir()
            txn.created_path(dest / d)
        txn.guard(target)
        atomic_copy(src, target)


def create_project(
    options: NewOptions,
    reporter: Reporter | None = None,
    confirm_trust: Callable[[tpl.FetchedTemplate], bool] | None = None,
) -> NewResult:
    """Generate a project. Either everything succeeds, or nothing is left behind."""
    reporter = reporter or Reporter()
    if not options.name.strip():
        raise InvalidName("project name is empty", "pass a name such as 'sentiment-bot'")
    settings = config.load(cli={"template": options.template, "python": options.python,
                                "installer": options.installer, "torch": options.torch,
                                "compile_bytecode": options.compile_bytecode})
    source = tpl.resolve(settings.get("template"), options.checkout, trust=options.trust)
    config.check_template_allowed(source.spec, settings)
    policy_trusted = config.template_trusted(source.spec, settings)
    overrides = load_answers_file(options.answers_file) if options.answers_file else {}
    overrides.update(options.overrides)
    output_dir = Path(options.output_dir).resolve()
    made_output_dir = not output_dir.exists() and not options.dry_run
    started = time.perf_counter()
    try:
        result = _create(options, reporter, confirm_trust, source, overrides, output_dir, settings, policy_trusted)
        if not result.dry_run:
            result.summary["seconds"] = round(time.perf_counter() - started, 2)
        return result
    except BaseException:
        if made_output_dir and output_dir.is_dir() and not any(output_dir.iterdir()):
            output_dir.rmdir()
        raise


def _answers(options: NewOptions, fetched: tpl.FetchedTemplate, overrides: dict[str, Any],
             trusted: bool) -> dict[str, Any]:
    """cookiecutter's context, with NAME answering the template's name variable and nothing else."""
    prompt_defaults = {} if options.no_input else git_identity()
    return rendering.build_context(fetched, overrides, options.no_input, None, trusted, prompt_defaults,
                                   name=options.name)


def _create(options, reporter, confirm_trust, source, overrides, output_dir, settings,
            policy_trusted=False) -> NewResult:
    scratch_parent = Path(tempfile.gettempdir()) if options.dry_run else output_dir / "x"
    with temporary_dir_beside(scratch_parent) as scratch:
        fetched = tpl.fetch(source, scratch, allow_outside_links=options.allow_outside_links)
        try:
            trusted = _trusted(fetched, options, confirm_trust, policy_trusted)
            if options.dry_run and not trusted and fetched.extensions:
                # Its files cannot be rendered without importing its extensions: say what it would run.
                result = NewResult(output_dir, source.spec, fetched.version, {}, steps=planned_steps(options),
                                   runs_code=fetched.runs_code(), dry_run=True)
                return result
            if trusted:
                rendering.run_pre_prompt(fetched)
            context = _answers(options, fetched, overrides, trusted)
            answers = context["cookiecutter"]
            render_dir = scratch / "render"
            render_dir.mkdir()
            # Rendering takes well under a second: timed with -v, not announced, so that a template
            # cookiecutter refuses is refused in one line.
            started = time.perf_counter()
            rendered = rendering.render(fetched, answers, render_dir, accept_hooks=trusted, trusted=trusted,
                                  asked=context["_cookiecutter"], final_output_dir=output_dir,
                                  template_arg=options.template or source.location)
            reporter.timings.append((f"render {source.spec}", time.perf_counter() - started))  # shown by -v
            if rendering.name_variable(tpl.read_template_json(fetched.repo_dir)) is None:
                reporter.warn(f"template {source.spec} has no {' or '.join(rendering.NAME_VARIABLES)} variable, "
                              f"so NAME {options.name!r} was not used")
            if source.kind == "builtin":
                _check_builtin_names(answers)
            recorded = provenance(fetched, answers)
            write_recorded(rendered / "pyproject.toml", recorded)
            dest = output_dir / rendered.name
            result = NewResult(dest, source.spec, fetched.version, rendering.public_answers(answers))
            result.steps = planned_steps(options)
            result.files = _list_files(rendered)
            result.runs_code = fetched.runs_code()
            if options.dry_run:
                result.dry_run = True
                return result
            had_files = dest.is_dir() and any(dest.iterdir())
            if had_files and not options.force:
                raise DestinationExists(f"{dest} already exists and is not empty", _FORCE_HINT)
            with Transaction() as txn:
                output_dir.mkdir(parents=True, exist_ok=True)
                _place(rendered, dest, options.force, txn)
                ctx = StepContext(options, dest, recorded, txn, reporter, settings)
                for name, applies, run in POST_RENDER_STEPS:
                    if not applies(options):
                        continue
                    with reporter.step(name):
                        try:
                            run(ctx)
                        except ScaffolderError as exc:
                            raise StepFailed(name, exc.message, exc.hint) from exc
                if any(applies(options) for _, applies, _ in POST_RENDER_STEPS):
                    write_recorded(dest / "pyproject.toml", ctx.recorded)
                git = _git_step(dest, ctx, source.spec, fetched.version, not had_files) if options.git else None
            result.summary = summarize(dest, ctx, git)
            result.next_steps = next_steps(fetched.repo_dir, result.answers, dest, ctx.recorded)
            return result
        finally:
            fetched.cleanup()


def _git_step(dest: Path, ctx: StepContext, spec: str, version: str, fresh_dir: bool):
    if not fresh_dir:
        result = gitrepo.GitResult(note=f"{dest} held files before, so no repository was made")
    else:
        with ctx.reporter.step("git init and first commit"):
            env = ctx.recorded.get("env_path")
            result = gitrepo.init_and_commit(dest, f"Generate from {spec} ({version}) with scaffolder",
                                             exclude=[env] if env else [])
    if result.note:
        ctx.reporter.warn(result.note)
    return result


def _trusted(fetched: tpl.FetchedTemplate, options: NewOptions, confirm_trust, policy_trusted: bool = False) -> bool:
    """One trust decision (``new``): see :func:`decide_trust`."""
    return decide_trust(fetched, options.trust or policy_trusted, confirm_trust, dry_run=options.dry_run)


def decide_trust(fetched: tpl.FetchedTemplate, trust: bool, confirm_trust, *, dry_run: bool = False) -> bool:
    """One trust decision, for ``new`` and ``update``: may the template run code (hooks, extensions) and
    render unsandboxed?

    Built-in and plugin templates are trusted, and so is one that ``trust`` covers (--trust, or the team's
    ``policy.trusted_templates``); anything else needs a yes at the prompt when it wants to run code, and
    otherwise renders in the sandbox. A dry run asks nothing and runs nothing. Links that leave the template
    are not decided here: ``tpl.fetch`` refuses them unless --allow-outside-links, trusted or not.
    """
    if fetched.source.trusted or trust:
        return True
    wants = fetched.runs_code()
    if not wants or dry_run:
        return False
    if confirm_trust is not None and confirm_trust(fetched):
        return True
    raise UntrustedTemplate(
        f"template {fetched.source.spec!r} would run code ({'; '.join(wants)})",
        "review it and pass --trust to allow it",
    )


# Environment, then lock, then install: each relies on the one before.
POST_RENDER_STEPS.extend(STEPS)
# Keep this the last step: the kernel runs the environment (and ipykernel) that earlier steps made.
POST_RENDER_STEPS.append(("register kernel", applies_to_new, register_for_new))
