"""What ``new`` tells the user when it is done: the facts of the project it made, and what to run next.

Templates declare their next commands in cookiecutter.json as ``_next_steps``, a list of at most three
commands in which ``{variable}`` stands for an answer (``python -m {package_name} --help``); a template
without them gets generic ones.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from scaffolder.envs.venv.manager import venv_backend
from scaffolder.errors import LockError
from scaffolder.locks import lockfile
from scaffolder.locks.locking import MAIN_LOCK
from scaffolder.templates.sources import read_template_json

NEXT_STEPS_KEY = "_next_steps"
GENERIC_NEXT_STEPS = [
    "scaffolder check            # lock fresh, env matches it, kernel alive",
    "scaffolder lock             # after editing dependencies in pyproject.toml",
    "scaffolder update           # when the template has a new version",
]
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def summarize(dest: Path, ctx, git) -> dict[str, Any]:  # noqa: ANN001 - lifecycle.new_options.StepContext, gitrepo.GitResult
    """The facts the summary and ``--json`` show; keys whose step did not run are None."""
    settings = ctx.recorded
    env_rel = settings.get("env_path")
    env = (dest / env_rel) if env_rel else None
    return {
        "project": str(dest),
        "env_path": str(env) if env is not None else None,
        "env": settings.get("env"),
        "installer": settings.get("installer"),
        "python": _env_python(env, settings) if env is not None else None,
        "activate": activate_command(env_rel, settings.get("env")) if env_rel else None,
        "packages": ctx.facts.get("packages"),
        "locks": ctx.facts.get("locks"),
        "torch": _torch_build(dest, settings),
        "kernel": settings.get("kernel"),
        "git": git.as_dict() if git is not None else None,
        "bytecode_compiled": ctx.facts.get("bytecode_compiled"),
        "notes": _notes(ctx),
    }


def _notes(ctx) -> list[str]:  # noqa: ANN001 - lifecycle.new_options.StepContext
    """What the user should know about the env: today only a machine where Python never caches bytecode."""
    if ctx.facts.get("bytecode_compiled") is False and os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return ["PYTHONDONTWRITEBYTECODE is set, so Python never caches bytecode here and imports stay about "
                "twice as slow; compile once with 'SCAFFOLDER_COMPILE_BYTECODE=1 scaffolder env sync' "
                "(or pass --compile-bytecode to new)"]
    return []


def _env_python(env: Path, settings: dict[str, Any]) -> str | None:
    if (env / "pyvenv.cfg").is_file():
        return venv_backend(settings.get("installer")).python_version(env) or settings.get("python")
    return settings.get("python")


def _torch_build(dest: Path, settings: dict[str, Any]) -> str | None:
    """The torch version the lock pins (``2.13.0+cpu``); None when the project does not use torch."""
    path = dest / (settings.get("lock") or MAIN_LOCK)
    if not path.is_file():
        return None
    try:
        pinned = lockfile.read(path).versions().get("torch")
    except LockError:
        return None
    if pinned is None:
        return None
    variant = settings.get("torch")
    return f"{pinned} ({variant})" if variant and variant not in pinned else pinned


def activate_command(env_rel: str, kind: str | None) -> str:
    if kind == "conda":
        return f"conda activate ./{env_rel}"
    if sys.platform == "win32":
        return f"{env_rel}\\Scripts\\activate"
    return f"source {shlex.quote(env_rel)}/bin/activate"


def next_steps(repo_dir: Path, answers: dict[str, Any], dest: Path, settings: dict[str, Any]) -> list[str]:
    """The template's ``_next_steps`` with its answers filled in, else the generic ones."""
    try:
        declared = read_template_json(repo_dir).get(NEXT_STEPS_KEY)
    except Exception:  # the template was read moments ago; a summary must not fail `new`
        declared = None
    if not isinstance(declared, list) or not all(isinstance(c, str) for c in declared) or not declared:
        return list(GENERIC_NEXT_STEPS)
    values = {k: str(v) for k, v in answers.items() if isinstance(v, (str, int, float))}
    return [_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), command) for command in declared[:3]]


def render(result, verbosity: int = 0) -> list[str]:  # noqa: ANN001 - lifecycle.new.NewResult
    """The human summary: facts, then the commands to run next."""
    s = result.summary
    rel = os.path.relpath(result.project_dir)
    shown = rel if not rel.startswith("..") else str(result.project_dir)
    seconds = s.get("seconds")
    lines = [f"Created {result.project_dir.name} from {result.template}" + (f" in {seconds:.1f}s" if seconds else ""),
             f"  project  {result.project_dir}"]
    if s.get("env_path"):
        how = ", ".join(x for x in (f"Python {s['python']}" if s.get("python") else None, s.get("installer")) if x)
        lines.append(f"  env      {s['env_path']}" + (f" ({how})" if how else ""))
    if s.get("packages") is not None:
        locks = ", ".join(s.get("locks") or [])
        lines.append(f"  locked   {s['packages']} packages" + (f" ({locks})" if locks else ""))
    if s.get("torch"):
        lines.append(f"  torch    {s['torch']}")
    if s.get("kernel"):
        lines.append(f"  kernel   {s['kernel']} (pick it in Jupyter or VS Code)")
    git = s.get("git")
    if git and git.get("commit"):
        lines.append(f"  git      first commit {git['commit'][:10]}")
    elif git and git.get("initialized"):
        lines.append("  git      repository created, nothing committed")
    lines += [f"  note     {note}" for note in s.get("notes") or []]
    lines += ["", "Next steps:", f"  cd {shlex.quote(shown)}"]
    if s.get("activate"):
        lines.append(f"  {s['activate']}")
    lines += [f"  {command}" for command in result.next_steps]
    return lines
