"""Rendering a fetched template through cookiecutter's building blocks: the answers (context,
prompts, typed values, NAME), the sandboxed Jinja environment, the path checks, and the render
into a temporary directory; ``scaffolder.lifecycle.new`` moves the result into place.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scaffolder.errors import InvalidAnswer, TemplateError, UnsafePath, UntrustedTemplate
from scaffolder.fsutil import is_within
from scaffolder.templates.answers import parse_value
from scaffolder.templates.sources import (
    FetchedTemplate,
    TemplateSource,
    one_line,
    cookiecutter_config,
    read_template_json,
)

# The variables NAME answers, in order of preference; a template's own derivations are never overridden.
NAME_VARIABLES = ("project_name", "name", "repo_name", "project_slug")


def public_answers(context: dict[str, Any]) -> dict[str, Any]:
    """The answers worth recording: what a user could set, not cookiecutter's private keys."""
    return {k: v for k, v in context.items() if not k.startswith("_")}


def name_variable(variables: dict[str, Any]) -> str | None:
    """The template variable that NAME answers: the first of NAME_VARIABLES that the template asks as text."""
    for key in NAME_VARIABLES:
        if key in variables and isinstance(variables[key], str):
            return key
    return None


def is_derived(value: Any) -> bool:
    """A default that the template computes from other answers (``{{ cookiecutter.x|lower }}``)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@contextmanager
def _repo_on_sys_path(fetched: FetchedTemplate, trusted: bool):
    """cookiecutter imports local extensions from beside cookiecutter.json; only trusted templates get that."""
    if not trusted or not fetched.extensions:
        yield
        return
    saved = list(sys.path)
    sys.path.append(str(fetched.repo_dir))
    try:
        yield
    finally:
        sys.path[:] = saved


@contextmanager
def jinja_environment(trusted: bool):
    """Render through cookiecutter with a sandboxed Jinja environment unless the template is trusted.

    cookiecutter builds every Jinja environment through ``cookiecutter.utils.create_env_with_context``,
    which looks up ``StrictEnvironment`` in its module at call time: swapping that one name sandboxes
    prompts, path names and file contents alike.
    """
    if trusted:
        yield
        return
    # lazily: cookiecutter and jinja2 (the sandbox imports both) load only to render (start-up speed)
    import cookiecutter.utils as cc_utils

    from scaffolder.templates.sandbox import SandboxedStrictEnvironment

    original = cc_utils.StrictEnvironment
    cc_utils.StrictEnvironment = SandboxedStrictEnvironment
    try:
        yield
    finally:
        cc_utils.StrictEnvironment = original


def _coerce(value: Any, default: Any) -> Any:
    """A text answer (``--set k=v``) typed like the template's default.

    Text stays text for text variables, so `--set flag=yes` renders `yes` where cookiecutter does;
    cookiecutter itself turns yes/no into a boolean for boolean variables.
    """
    if not isinstance(value, str) or default is None or isinstance(default, (str, bool)):
        return value
    parsed = parse_value(value)
    if isinstance(default, (list, dict)):
        return parsed if isinstance(parsed, type(default)) else value
    if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
        return parsed
    return value


@contextmanager
def _skip_prompts(skip: set[str]):
    """Ask nothing for ``skip``: cookiecutter's prompt readers return the default for those keys."""
    if not skip:
        yield
        return
    import cookiecutter.prompt as cc_prompt

    names = ("read_user_variable", "read_user_yes_no", "read_user_dict", "read_user_choice", "read_user_multichoice")
    originals = {n: getattr(cc_prompt, n) for n in names if hasattr(cc_prompt, n)}

    def answered(name):
        original = originals[name]

        def read(var_name, default, *args, **kwargs):
            if var_name not in skip:
                return original(var_name, default, *args, **kwargs)
            return default[0] if name == "read_user_choice" else default
        return read

    for name in originals:
        setattr(cc_prompt, name, answered(name))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(cc_prompt, name, original)


def build_context(
    fetched: FetchedTemplate,
    overrides: dict[str, Any],
    no_input: bool,
    optional: dict[str, Any] | None = None,
    trusted: bool = False,
    prompt_defaults: dict[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """cookiecutter's context for this template: ``{"cookiecutter": answers, "_cookiecutter": as asked}``.

    Layers, lowest first: the template's defaults, ``prompt_defaults`` (only where the user config sets
    nothing), the user config's ``default_context``, ``optional`` (only where the template has the key),
    then ``overrides``. Nested templates (the ``templates`` key) are followed, as cookiecutter does.
    Unknown override keys are an error: cookiecutter silently ignores them, which hides typos.
    """
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import choose_nested_template, prompt_for_config

    config = cookiecutter_config()
    variables = read_template_json(fetched.repo_dir)
    unknown = sorted(k for k in overrides if k not in variables)
    if unknown:
        visible = ", ".join(k for k in variables if not k.startswith("_"))
        raise InvalidAnswer(
            f"template has no variable {', '.join(map(repr, unknown))}", f"its variables are: {visible}"
        )
    defaults = {**(prompt_defaults or {}), **config["default_context"]}
    extra = {k: v for k, v in (optional or {}).items() if k in variables}
    variable = name_variable(variables) if name is not None else None
    if variable is not None and variable not in overrides:
        extra[variable] = name
    extra.update({k: _coerce(v, variables[k]) for k, v in overrides.items()})
    context_file = str(Path(fetched.repo_dir) / "cookiecutter.json")
    from jinja2.exceptions import SecurityError

    try:
        with jinja_environment(trusted), _repo_on_sys_path(fetched, trusted):
            context = generate_context(context_file, defaults, extra)
            context["_cookiecutter"] = public_answers(context["cookiecutter"])
            if {"template", "templates"} & set(context["cookiecutter"]):
                nested = Path(choose_nested_template(context, str(fetched.repo_dir), no_input))
                if not is_within(nested, fetched.repo_dir) or not (nested / "cookiecutter.json").is_file():
                    raise TemplateError(f"nested template {nested} is not a template inside {fetched.repo_dir}",
                                        "fix the 'templates' paths in cookiecutter.json")
                fetched.switch_to(nested)
                nested_overrides = {k: v for k, v in overrides.items() if k in read_template_json(nested)}
                return build_context(fetched, nested_overrides, no_input, optional, trusted, prompt_defaults, name)
            skip = set(extra) | {k for k, v in variables.items() if is_derived(v)}
            with _skip_prompts(set() if no_input else skip):
                context["cookiecutter"].update(prompt_for_config(context, no_input))
    except ValueError as exc:
        raise InvalidAnswer(str(exc).strip(), "pick one of the listed values") from None
    except CookiecutterException as exc:
        raise TemplateError(f"template variables could not be rendered: {one_line(exc)}",
                            "check the template's cookiecutter.json and your answers") from None
    except SecurityError as exc:
        raise _sandbox_refusal(fetched, exc) from None
    answers = context["cookiecutter"]
    # cookiecutter turns every non-string answer into a string; keep typed answers typed.
    for key, value in extra.items():
        if not isinstance(value, str) and not isinstance(variables.get(key), list):
            answers[key] = value
    return context


def build_answers(
    repo_dir: Path,
    overrides: dict[str, Any],
    no_input: bool,
    optional: dict[str, Any] | None = None,
    *,
    trusted: bool,
    source: TemplateSource | None = None,
) -> dict[str, Any]:
    """The answers alone (``update`` re-renders); sandboxed, without local extensions, unless ``trusted``."""
    source = source or TemplateSource(str(repo_dir), "path", str(repo_dir), False)
    fetched = FetchedTemplate(source, Path(repo_dir), "")
    fetched.switch_to(Path(repo_dir))
    return build_context(fetched, overrides, no_input, optional, trusted=trusted)["cookiecutter"]


def _sandbox_refusal(fetched: FetchedTemplate, exc: BaseException) -> UntrustedTemplate:
    return UntrustedTemplate(
        f"template {fetched.source.spec!r} uses a construct the sandbox refuses: {one_line(exc)}",
        "review the template; --trust renders it unsandboxed",
    )


def check_paths(repo_dir: Path, context: dict[str, Any]) -> None:
    """Render every path name of the template, writing nothing, and refuse any that would
    leave the project directory (``../x``, absolute paths, a name with a separator)."""
    from cookiecutter.exceptions import NonTemplatedInputDirException
    from cookiecutter.find import find_template
    from cookiecutter.utils import create_env_with_context
    from jinja2 import TemplateError as TemplateError_
    from jinja2.exceptions import SecurityError

    env = create_env_with_context(context)
    try:
        template_dir = Path(find_template(str(repo_dir), env))
    except NonTemplatedInputDirException:
        raise TemplateError(
            f"{repo_dir} has no '{{{{cookiecutter.*}}}}' project directory", "check the template layout"
        ) from None

    def render_name(text: str) -> str:
        if "{" not in text:  # most names are plain: compiling each as a template is most of this check's time
            return text
        try:
            return env.from_string(text).render(**context)
        except SecurityError:
            raise  # the sandbox's refusal, reported as such by the caller
        except TemplateError_ as exc:
            raise TemplateError(f"rendering failed: the name {text!r} cannot be rendered: {exc}",
                                "check the template and your answers") from None

    def rendered(path: Path) -> str:
        return render_name(os.path.relpath(path, template_dir.parent))

    top = rendered(template_dir)
    if not top or top in (".", "..") or "/" in top or "\\" in top or os.path.isabs(top):
        raise UnsafePath(
            f"template would create the project directory {top!r}, outside the output directory",
            "answers used in file names must not contain '..', '/' or '\\'",
        )
    for root, dirs, files in os.walk(template_dir):
        for name in dirs + files:
            rel = rendered(Path(root) / name)
            part = render_name(name)
            norm = os.path.normpath(rel)
            bad_part = part in ("", ".", "..") or "/" in part or "\\" in part
            if bad_part or os.path.isabs(rel) or "\\" in rel or norm.split(os.sep)[0] != top or norm == top:
                raise UnsafePath(
                    f"template would write {rel!r}, outside the project directory",
                    "answers used in file names must not contain '..', '/' or '\\'",
                )


def render(fetched: FetchedTemplate, answers: dict[str, Any], output_dir: Path, accept_hooks: bool,
           *, trusted: bool | None = None, asked: dict[str, Any] | None = None, final_output_dir: Path | None = None,
           template_arg: str | None = None) -> Path:
    """Render into ``output_dir`` (a fresh temporary directory) and return the project directory.

    The context is the one cookiecutter would build: ``asked`` is its ``_cookiecutter`` (the answers
    before prompting), ``final_output_dir`` the ``_output_dir`` the project is moved to afterwards, and
    ``template_arg`` the ``_template`` the user typed. ``trusted`` defaults to ``accept_hooks``.
    """
    from cookiecutter.exceptions import CookiecutterException, FailedHookException
    from cookiecutter.generate import generate_files
    from jinja2.exceptions import SecurityError

    trusted = accept_hooks if trusted is None else trusted
    context = {"cookiecutter": dict(answers),
               "_cookiecutter": public_answers(answers) if asked is None else asked}
    context["cookiecutter"].update(
        _template=template_arg or fetched.source.location,
        _output_dir=str(Path(final_output_dir or output_dir).absolute()),
        _repo_dir=str(fetched.repo_dir), _checkout=fetched.source.checkout,
    )
    try:
        with jinja_environment(trusted), _repo_on_sys_path(fetched, trusted):
            check_paths(fetched.repo_dir, context)
            project = Path(
                generate_files(
                    repo_dir=str(fetched.repo_dir), context=context, output_dir=str(output_dir),
                    accept_hooks=accept_hooks,
                )
            )
    except FailedHookException as exc:
        raise TemplateError(f"a template hook failed: {one_line(exc)}",
                            "fix the hook or rerun without --trust") from None
    except CookiecutterException as exc:
        raise TemplateError(f"rendering failed: {one_line(exc)}", "check the template and your answers") from None
    except SecurityError as exc:
        raise _sandbox_refusal(fetched, exc) from None
    for root, dirs, files in os.walk(project):
        for name in dirs + files:
            if not is_within(Path(root) / name, output_dir):
                raise UnsafePath(f"rendered path {name!r} points outside the project (symlink?)",
                                "the template must not contain links that leave the project")
    return project


def run_pre_prompt(fetched: FetchedTemplate) -> None:
    """cookiecutter's pre_prompt hook runs on a copy of the template, before any question is asked."""
    if not any(Path(h).stem == "pre_prompt" for h in fetched.hooks):
        return
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.hooks import run_pre_prompt_hook

    try:
        copy = Path(run_pre_prompt_hook(str(fetched.repo_dir)))
    except FailedHookException as exc:
        raise TemplateError(f"the template's pre_prompt hook failed: {one_line(exc)}",
                            "fix the hook or rerun without --trust") from None
    fetched._cleanup.append(copy.parent)  # cookiecutter copies into mkdtemp()/NAME
    fetched.switch_to(copy)
