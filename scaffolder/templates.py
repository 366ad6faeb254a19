"""Template sources, trust policy and rendering through cookiecutter.

A template is found from what the user typed: a built-in name, a plugin registered under
the entry-point group ``scaffolder.templates``, a local directory, a git URL (or a
``gh:``/``gl:``/``bb:`` abbreviation) or a zip. Rendering always happens in a temporary
directory; ``scaffolder.generate`` moves the result into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import InvalidAnswer, TemplateError, UnsafePath
from .fsutil import is_within

ENTRY_POINT_GROUP = "scaffolder.templates"
DEFAULT_TEMPLATE = "transformer"
HOOK_NAMES = ("pre_prompt", "pre_gen_project", "post_gen_project")
_REPO_URL = re.compile(r"^(gh|gl|bb|git\+\w+|git|ssh|https?|file):|^git@|\.git$")


def builtin_root() -> Path:
    """Built-in templates: inside the wheel, or at the repository root in a checkout."""
    packaged = Path(__file__).parent / "builtin_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


@dataclass
class TemplateSource:
    spec: str  # what is recorded in [tool.scaffolder].template, enough to find it again
    kind: str  # builtin | plugin | path | git | zip
    location: str  # a directory, URL or zip path
    trusted: bool
    checkout: str | None = None
    package: str | None = None  # the distribution that provides a plugin template
    package_version: str | None = None


@dataclass
class TemplateInfo:
    name: str
    kind: str
    description: str
    version: str
    location: str
    package: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def read_template_json(repo_dir: Path) -> dict[str, Any]:
    path = Path(repo_dir) / "cookiecutter.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"{repo_dir} has no cookiecutter.json", "point at a cookiecutter template") from None
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path} is not valid JSON: {exc}", "fix the template's cookiecutter.json") from None


def _describe(name: str, kind: str, repo_dir: Path, package=None, package_version=None) -> TemplateInfo:
    data = read_template_json(repo_dir)
    return TemplateInfo(
        name=name,
        kind=kind,
        description=str(data.get("_description", "")),
        version=str(data.get("_template_version") or package_version or "unversioned"),
        location=str(repo_dir),
        package=package,
    )


def builtin_templates() -> dict[str, Path]:
    root = builtin_root()
    return {p.name: p for p in sorted(root.iterdir()) if (p / "cookiecutter.json").is_file()}


def _entry_points():
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


def _load_plugin_dir(ep) -> Path:
    """An entry point may name a path, a module (its directory) or a callable returning a path."""
    try:
        obj = ep.load()
    except Exception as exc:  # a broken plugin must not break the others
        raise TemplateError(f"template plugin {ep.name!r} failed to load: {exc}", "reinstall or remove it") from None
    if callable(obj) and not isinstance(obj, type):
        obj = obj()
    if hasattr(obj, "__path__"):
        obj = list(obj.__path__)[0]
    elif hasattr(obj, "__file__"):
        obj = os.path.dirname(obj.__file__)
    path = Path(obj)
    if not (path / "cookiecutter.json").is_file():
        raise TemplateError(
            f"template plugin {ep.name!r} points at {path}, which has no cookiecutter.json",
            "fix the plugin's entry point",
        )
    return path


def plugin_templates() -> dict[str, tuple[Any, Path | None, str | None]]:
    """name -> (entry point, directory or None when broken, error message)."""
    found: dict[str, tuple[Any, Path | None, str | None]] = {}
    for ep in _entry_points():
        try:
            found[ep.name] = (ep, _load_plugin_dir(ep), None)
        except TemplateError as exc:
            found[ep.name] = (ep, None, exc.format_message())
    return found


def list_templates() -> tuple[list[TemplateInfo], list[str]]:
    """All built-in and plugin templates, plus warnings about broken plugins."""
    infos = [_describe(name, "builtin", path, "scaffolder", __version__) for name, path in builtin_templates().items()]
    warnings = []
    for name, (ep, path, error) in plugin_templates().items():
        dist = getattr(ep, "dist", None)
        if path is None:
            warnings.append(error or name)
            continue
        infos.append(_describe(name, "plugin", path, dist.name if dist else None, dist.version if dist else None))
    return infos, warnings


def resolve(spec: str | None, checkout: str | None = None) -> TemplateSource:
    """Work out where a template comes from, and whether its hooks may run without asking."""
    spec = (spec or DEFAULT_TEMPLATE).strip()
    prefix, _, rest = spec.partition(":")
    builtins = builtin_templates()
    if prefix == "builtin" or (not rest and spec in builtins):
        name = rest if prefix == "builtin" else spec
        if name not in builtins:
            raise TemplateError(f"no built-in template {name!r}", f"choose one of: {', '.join(builtins)}")
        return TemplateSource(f"builtin:{name}", "builtin", str(builtins[name]), True, None, "scaffolder", __version__)
    if prefix == "plugin" or (not rest and not os.path.exists(spec)):
        name = rest if prefix == "plugin" else spec
        plugins = plugin_templates()
        if name in plugins:
            ep, path, error = plugins[name]
            if path is None:
                raise TemplateError(error or f"template plugin {name!r} is broken", "reinstall or remove its package")
            dist = getattr(ep, "dist", None)
            return TemplateSource(
                f"plugin:{name}", "plugin", str(path), True, None,
                dist.name if dist else None, dist.version if dist else None,
            )
        if prefix == "plugin" or not _REPO_URL.search(spec):
            known = sorted(builtins) + sorted(plugins)
            raise TemplateError(
                f"unknown template {spec!r}",
                f"choose one of: {', '.join(known)}, or pass a directory, git URL or zip",
            )
    if spec.lower().endswith(".zip"):
        location = spec if _REPO_URL.search(spec) else str(Path(spec).resolve())
        return TemplateSource(location, "zip", location, False, checkout)
    if _REPO_URL.search(spec) and not os.path.isdir(spec):
        return TemplateSource(spec, "git", spec, False, checkout)
    path = Path(spec).expanduser().resolve()
    if not path.is_dir():
        raise TemplateError(f"template directory {spec!r} does not exist", "check the path")
    return TemplateSource(str(path), "path", str(path), False, checkout)


@dataclass
class FetchedTemplate:
    source: TemplateSource
    repo_dir: Path
    version: str
    hooks: list[str] = field(default_factory=list)
    _cleanup: Path | None = None

    def cleanup(self) -> None:
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)


def _git_commit(path: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def find_hooks(repo_dir: Path) -> list[str]:
    hooks_dir = Path(repo_dir) / "hooks"
    if not hooks_dir.is_dir():
        return []
    return sorted(p.name for p in hooks_dir.iterdir() if p.is_file() and p.stem in HOOK_NAMES)


def fetch(source: TemplateSource, work_dir: Path) -> FetchedTemplate:
    """Make the template available as a local directory (cloning or unzipping into ``work_dir``)."""
    from cookiecutter.config import get_user_config
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.repository import determine_repo_dir

    cleanup = None
    if source.kind in ("git", "zip"):
        clone_dir = Path(work_dir) / "template-source"
        clone_dir.mkdir(parents=True, exist_ok=True)
        config = get_user_config(default_config=True)
        try:
            repo, _ = determine_repo_dir(
                template=source.location,
                abbreviations=config["abbreviations"],
                clone_to_dir=str(clone_dir),
                checkout=source.checkout,
                no_input=True,
            )
        except (CookiecutterException, subprocess.CalledProcessError, OSError) as exc:
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise TemplateError(
                f"could not fetch template {source.location!r}: {detail}",
                "check the URL, the ref and your network",
            ) from None
        repo_dir = Path(repo)
        cleanup = clone_dir
    elif source.kind == "path" and source.checkout:
        # A local template kept in git, at a given commit: clone it (offline) and check that out.
        clone_dir = Path(work_dir) / "template-source"
        try:
            subprocess.run(["git", "clone", "-q", "--no-checkout", source.location, str(clone_dir)],
                           check=True, capture_output=True, text=True, timeout=300)
            subprocess.run(["git", "-C", str(clone_dir), "checkout", "-q", source.checkout],
                           check=True, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()[-1:] or [""]
            raise TemplateError(
                f"could not check out {source.checkout!r} of template {source.location}: {detail[0]}",
                "is the template directory a git repository with that ref?",
            ) from None
        repo_dir, cleanup = clone_dir, clone_dir
    else:
        repo_dir = Path(source.location)
    data = read_template_json(repo_dir)
    version = str(data.get("_template_version") or "")
    if source.kind in ("git", "path"):
        version = _git_commit(repo_dir) or version
    if source.kind == "plugin" and not version:
        version = source.package_version or ""
    return FetchedTemplate(source, repo_dir, version or "unversioned", find_hooks(repo_dir), cleanup)


def public_answers(context: dict[str, Any]) -> dict[str, Any]:
    """The answers worth recording: what a user could set, not cookiecutter's private keys."""
    return {k: v for k, v in context.items() if not k.startswith("_")}


def build_answers(
    repo_dir: Path,
    overrides: dict[str, Any],
    no_input: bool,
    optional: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Defaults, then ``optional`` (applied only where the template has the key), then ``overrides``.

    Unknown override keys are an error: cookiecutter silently ignores them, which hides typos.
    """
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    variables = read_template_json(repo_dir)
    unknown = sorted(k for k in overrides if k not in variables)
    if unknown:
        visible = ", ".join(k for k in variables if not k.startswith("_"))
        raise InvalidAnswer(
            f"template has no variable {', '.join(map(repr, unknown))}", f"its variables are: {visible}"
        )
    extra = {k: v for k, v in (optional or {}).items() if k in variables}
    extra.update(overrides)
    try:
        context = generate_context(str(Path(repo_dir) / "cookiecutter.json"), None, extra)
        answers = dict(prompt_for_config(context, no_input))
    except ValueError as exc:
        raise InvalidAnswer(str(exc), "pick one of the listed values") from None
    except CookiecutterException as exc:
        raise TemplateError(f"template variables could not be rendered: {exc}",
                            "check the template's cookiecutter.json and your answers") from None
    # cookiecutter turns every non-string answer into a string; keep ours typed.
    for key, value in overrides.items():
        if not isinstance(value, str) and not isinstance(variables.get(key), list):
            answers[key] = value
    return answers


def check_paths(repo_dir: Path, context: dict[str, Any]) -> None:
    """Render every path name of the template, writing nothing, and refuse any that would
    leave the project directory (``../x``, absolute paths, a name with a separator)."""
    from cookiecutter.exceptions import NonTemplatedInputDirException
    from cookiecutter.find import find_template
    from cookiecutter.utils import create_env_with_context

    env = create_env_with_context(context)
    try:
        template_dir = Path(find_template(str(repo_dir), env))
    except NonTemplatedInputDirException:
        raise TemplateError(
            f"{repo_dir} has no '{{{{cookiecutter.*}}}}' project directory", "check the template layout"
        ) from None

    def rendered(path: Path) -> str:
        return env.from_string(os.path.relpath(path, template_dir.parent)).render(**context)

    top = rendered(template_dir)
    if not top or top in (".", "..") or "/" in top or "\\" in top or os.path.isabs(top):
        raise UnsafePath(
            f"template would create the project directory {top!r}, outside the output directory",
            "answers used in file names must not contain '..', '/' or '\\'",
        )
    for root, dirs, files in os.walk(template_dir):
        for name in dirs + files:
            rel = rendered(Path(root) / name)
            part = env.from_string(name).render(**context)
            norm = os.path.normpath(rel)
            bad_part = part in ("", ".", "..") or "/" in part or "\\" in part
            if bad_part or os.path.isabs(rel) or "\\" in rel or norm.split(os.sep)[0] != top or norm == top:
                raise UnsafePath(
                    f"template would write {rel!r}, outside the project directory",
                    "answers used in file names must not contain '..', '/' or '\\'",
                )


def render(fetched: FetchedTemplate, answers: dict[str, Any], output_dir: Path,
           accept_hooks: bool) -> Path:
    """Render into ``output_dir`` (a fresh temporary directory) and return the project directory."""
    from cookiecutter.exceptions import CookiecutterException, FailedHookException
    from cookiecutter.generate import generate_files

    context = {"cookiecutter": dict(answers), "_cookiecutter": public_answers(answers)}
    context["cookiecutter"].update(
        _template=fetched.source.spec, _output_dir=str(output_dir), _repo_dir=str(fetched.repo_dir), _checkout=None
    )
    check_paths(fetched.repo_dir, context)
    try:
        project = Path(
            generate_files(
                repo_dir=str(fetched.repo_dir), context=context, output_dir=str(output_dir), accept_hooks=accept_hooks
            )
        )
    except FailedHookException as exc:
        raise TemplateError(f"a template hook failed: {exc}", "fix the hook or rerun without --trust") from None
    except CookiecutterException as exc:
        raise TemplateError(f"rendering failed: {exc}", "check the template and your answers") from None
    for root, dirs, files in os.walk(project):
        for name in dirs + files:
            if not is_within(Path(root) / name, output_dir):
                raise UnsafePath(f"rendered path {name!r} points outside the project (symlink?)",
                                "the template must not contain links that leave the project")
    return project
