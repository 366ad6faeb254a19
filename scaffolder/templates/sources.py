"""Where templates come from and what they would run: finding, listing, fetching, and the checks
that decide trust (hooks, extensions, links that leave the template, risky git transports).

A template is found from what the user typed: a built-in name, a plugin registered under
the entry-point group ``scaffolder.templates``, a local directory, a git URL (or a
``gh:``/``gl:``/``bb:`` abbreviation) or a zip. ``rendering`` turns a fetched template and its
answers into files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffolder import __version__
from scaffolder.errors import ScaffolderError, TemplateError, UnsafePath, UsageError
from scaffolder.fsutil import is_within

ENTRY_POINT_GROUP = "scaffolder.templates"
DEFAULT_TEMPLATE = "transformer"
HOOK_NAMES = ("pre_prompt", "pre_gen_project", "post_gen_project")
# Extensions that only format values: safe to load for any template, even in the sandbox.
SAFE_EXTENSION_PREFIXES = ("cookiecutter.extensions.", "jinja2_time.")
_REPO_URL = re.compile(r"^(gh|gl|bb|git\+\w+|git|ssh|https?|file):|^git@|\.git$")
# git's remote-helper transports that run a command (ext::) or reach any path (file::): only with --trust.
_RISKY_TRANSPORT = re.compile(r"^(?:(?:git|hg)\+)?(ext|file)::", re.IGNORECASE)
_ALLOW_LINKS_HINT = "remove the link, or pass --allow-outside-links to copy what it points at"


def builtin_root() -> Path:
    """Built-in templates: inside the wheel, or at the repository root in a checkout."""
    packaged = Path(__file__).parent.parent / "builtin_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "templates"


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


def check_ref(ref: str | None) -> None:
    """A template ref (``new --checkout``, ``update --to``) reaches git: one starting with '-' would be an option."""
    if ref is not None and ref.startswith("-"):
        raise UsageError(f"template ref {ref!r} starts with '-', which git would read as an option",
                         "give a branch, tag or commit name")


def check_source(spec: str, trust: bool = False) -> None:
    """A template source reaches git or cookiecutter: no option look-alikes, and git's ext:: and file::
    transports (ext:: runs any command it names) only with --trust."""
    if spec.startswith("-"):
        raise UsageError(f"template source {spec!r} starts with '-', which git would read as an option",
                         f"write ./{spec} for a directory of that name")
    risky = _RISKY_TRANSPORT.match(spec)
    if risky and not trust:
        raise UsageError(f"template source {spec!r} uses git's {risky.group(1).lower()}:: transport, "
                         "which can run commands or read any path on this machine",
                         "use a URL or a directory, or pass --trust if you mean it")


def resolve(spec: str | None, checkout: str | None = None, trust: bool = False) -> TemplateSource:
    """Work out where a template comes from, and whether its hooks may run without asking.

    ``spec`` and ``checkout`` are checked first (:func:`check_source`, :func:`check_ref`).
    """
    spec = (spec or DEFAULT_TEMPLATE).strip()
    check_source(spec, trust)
    check_ref(checkout)
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
        if prefix != "plugin":
            local = _from_user_config(spec, checkout, trust)
            if local is not None:
                return local
        if prefix == "plugin" or not _REPO_URL.search(spec):
            known = sorted(builtins) + sorted(plugins)
            raise TemplateError(
                f"unknown template {spec!r}",
                f"choose one of: {', '.join(known)}, or pass a directory, git URL or zip",
            )
    if rest and not _REPO_URL.search(spec) and not os.path.exists(spec):
        abbreviated = _from_user_config(spec, checkout, trust)
        if abbreviated is not None:
            return abbreviated
    if spec.lower().endswith(".zip"):
        location = spec if _REPO_URL.search(spec) else str(Path(spec).resolve())
        return TemplateSource(location, "zip", location, False, checkout)
    if _REPO_URL.search(spec) and not os.path.isdir(spec):
        return TemplateSource(spec, "git", spec, False, checkout)
    path = Path(spec).expanduser().resolve()
    if not path.is_dir():
        raise TemplateError(f"template directory {spec!r} does not exist", "check the path")
    return TemplateSource(str(path), "path", str(path), False, checkout)


def _from_user_config(spec: str, checkout: str | None, trust: bool = False) -> TemplateSource | None:
    """A template the user's cookiecutter config names: an abbreviation of its own, or a template
    already cloned into ``cookiecutters_dir`` (cookiecutter looks there for a bare name too)."""
    from cookiecutter.repository import expand_abbreviations

    config = cookiecutter_config()
    expanded = expand_abbreviations(spec, config["abbreviations"])
    if expanded != spec:
        check_source(expanded, trust)
        kind = "zip" if expanded.lower().endswith(".zip") else "git"
        return TemplateSource(spec, kind, spec, False, checkout)
    cached = Path(config["cookiecutters_dir"]).expanduser() / spec
    if (cached / "cookiecutter.json").is_file():
        return TemplateSource(str(cached.resolve()), "path", str(cached.resolve()), False, checkout)
    return None


@dataclass
class FetchedTemplate:
    source: TemplateSource
    repo_dir: Path
    version: str
    hooks: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)  # `_extensions` that run code (not cookiecutter's own)
    _cleanup: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        for path in self._cleanup:
            shutil.rmtree(path, ignore_errors=True)

    def runs_code(self) -> list[str]:
        """What the template would run, one phrase each; empty when it renders with nothing but Jinja.

        A template that offers nested templates (the ``templates`` key) is judged with all of them, since
        the trust decision comes before the choice."""
        wants = []
        for where in [self.repo_dir, *nested_templates(self.repo_dir)]:
            prefix = "" if where == self.repo_dir else f"{os.path.relpath(where, Path(self.repo_dir).resolve())}/"
            hooks = find_hooks(where) if where != self.repo_dir else self.hooks
            extensions = code_extensions(read_template_json(where)) if where != self.repo_dir else self.extensions
            if hooks:
                wants.append(f"runs hooks: {', '.join(prefix + h for h in hooks)}")
            wants += [f"loads extension {name}" for name in extensions]
        return wants

    def switch_to(self, repo_dir: Path) -> None:
        """Point at another template directory (a nested template, or a copy a pre_prompt hook changed)."""
        self.repo_dir = Path(repo_dir)
        self.hooks = find_hooks(self.repo_dir)
        self.extensions = code_extensions(read_template_json(self.repo_dir))


def nested_templates(repo_dir: Path) -> list[Path]:
    """The template directories a ``templates`` (or old-style ``template``) key offers, inside ``repo_dir``."""
    try:
        variables = read_template_json(repo_dir)
    except TemplateError:
        return []
    paths = []
    offered = variables.get("templates")
    if isinstance(offered, dict):
        paths = [str(v.get("path", "")) for v in offered.values() if isinstance(v, dict)]
    elif isinstance(variables.get("template"), list):
        paths = [m[1] for v in variables["template"] if (m := re.search(r"\((.+)\)", str(v)))]
    found = []
    for rel in paths:
        path = (Path(repo_dir) / rel).resolve()
        if rel and is_within(path, Path(repo_dir).resolve()) and (path / "cookiecutter.json").is_file():
            found.append(path)
            found += [p for p in nested_templates(path) if p not in found]
    return found


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


def code_extensions(variables: dict[str, Any]) -> list[str]:
    """The `_extensions` a template names that are code of its own or of another package.

    cookiecutter's built-in extensions (and jinja2_time's `{% now %}`, which cookiecutter's own replaces)
    only format values, so they are safe in the sandbox; anything else runs at import.
    """
    named = variables.get("_extensions") or []
    return [str(n) for n in named if not str(n).startswith(SAFE_EXTENSION_PREFIXES)]


def cookiecutter_config() -> dict[str, Any]:
    """The user's cookiecutter config (COOKIECUTTER_CONFIG, else ~/.cookiecutterrc, else defaults)."""
    from cookiecutter.config import get_user_config
    from cookiecutter.exceptions import CookiecutterException

    try:
        return get_user_config()
    except CookiecutterException as exc:
        raise TemplateError(f"cookiecutter config could not be read: {exc}",
                            "fix ~/.cookiecutterrc or the file COOKIECUTTER_CONFIG names") from None


def fetch(source: TemplateSource, work_dir: Path, *, allow_outside_links: bool = False) -> FetchedTemplate:
    """Make the template available as a local directory (cloning or unzipping into ``work_dir``).

    A zip's members are checked before cookiecutter unpacks it (:func:`check_zip`; a zip URL is downloaded
    into ``work_dir`` first), and the fetched template's links before anything is rendered
    (:func:`check_links`, unless ``allow_outside_links``).
    """
    from cookiecutter.exceptions import CookiecutterException

    check_ref(source.checkout)
    cleanup = []
    if source.kind in ("git", "zip"):
        # Only here: cookiecutter.repository imports requests, a third of a local render's time.
        from cookiecutter.repository import determine_repo_dir, expand_abbreviations, is_repo_url, is_zip_file

        clone_dir = Path(work_dir) / "template-source"
        clone_dir.mkdir(parents=True, exist_ok=True)
        cleanup.append(clone_dir)
        abbreviations = cookiecutter_config()["abbreviations"]
        location = expand_abbreviations(source.location, abbreviations)
        zip_top = None
        try:
            if is_zip_file(location):
                if is_repo_url(location):
                    location = str(_download(location, clone_dir / "template.zip"))
                zip_top = check_zip(Path(location))
            repo, _ = determine_repo_dir(
                template=location,
                abbreviations=abbreviations,
                clone_to_dir=str(clone_dir),
                checkout=source.checkout,
                no_input=True,
            )
        except (CookiecutterException, subprocess.CalledProcessError, OSError) as exc:
            shutil.rmtree(clone_dir, ignore_errors=True)
            said = getattr(exc, "output", None) or str(exc)
            said = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
            detail = said.strip().splitlines()[-1] if said.strip() else type(exc).__name__
            raise TemplateError(
                f"could not fetch template {source.location!r}: {detail}",
                "check the URL, the ref and your network",
            ) from None
        except ScaffolderError:
            shutil.rmtree(clone_dir, ignore_errors=True)
            raise
        repo_dir = Path(repo)
        if zip_top is not None:  # cookiecutter unpacks into a mkdtemp() directory of its own: remove it too
            unzip_base = repo_dir
            for _ in Path(zip_top).parts:
                unzip_base = unzip_base.parent
            if os.path.realpath(unzip_base.parent) == os.path.realpath(tempfile.gettempdir()):
                cleanup.append(unzip_base)
    elif source.kind == "path" and source.checkout:
        # A local template kept in git, at a given commit: clone it (offline) and check that out.
        clone_dir = Path(work_dir) / "template-source"
        try:
            subprocess.run(["git", "clone", "-q", "--no-checkout", "--", source.location, str(clone_dir)],
                           check=True, capture_output=True, text=True, timeout=300)
            # `checkout REF --`: the ref (checked by check_ref) is a revision, never a path or an option.
            subprocess.run(["git", "-C", str(clone_dir), "checkout", "-q", source.checkout, "--"],
                           check=True, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.CalledProcessError) as exc:
            shutil.rmtree(clone_dir, ignore_errors=True)
            detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()[-1:] or [""]
            raise TemplateError(
                f"could not check out {source.checkout!r} of template {source.location}: {detail[0]}",
                "is the template directory a git repository with that ref?",
            ) from None
        repo_dir = clone_dir
        cleanup.append(clone_dir)
    else:
        repo_dir = Path(source.location)
    try:
        if not allow_outside_links:
            check_links(repo_dir)
        data = read_template_json(repo_dir)
    except ScaffolderError:
        for path in cleanup:
            shutil.rmtree(path, ignore_errors=True)
        raise
    version = str(data.get("_template_version") or "")
    if source.kind in ("git", "path"):
        version = _git_commit(repo_dir) or version
    if source.kind == "plugin" and not version:
        version = source.package_version or ""
    return FetchedTemplate(source, repo_dir, version or "unversioned", find_hooks(repo_dir), code_extensions(data),
                           cleanup)


def _download(url: str, dest: Path) -> Path:
    """Download a zip template, as cookiecutter would, so that its members are checked before unpacking."""
    import requests

    try:
        with requests.get(url, stream=True, timeout=100) as response:
            response.raise_for_status()
            with open(dest, "wb") as out:
                for chunk in response.iter_content(chunk_size=65536):
                    out.write(chunk)
    except requests.RequestException as exc:
        raise TemplateError(f"could not download template {url!r}: {one_line(exc)}",
                            "check the URL and your network") from None
    return dest


def check_zip(path: Path) -> str:
    """Refuse a zip template with a member that is a symlink, an absolute path or has a '..' part.

    Returns the top-level directory cookiecutter unpacks the template into. Python's zipfile would
    write a symlink member as a plain file and strip '..', but a template that holds such members was
    made to escape, so it is refused outright, before anything is unpacked.
    """
    import stat
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise TemplateError(f"zip template {path} cannot be read: {one_line(exc)}",
                            "check that it is a zip archive") from None
    for info in members:
        name = info.filename
        parts = re.split(r"[/\\]", name)
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise UnsafePath(f"zip template {path.name} has a member {name!r} that would unpack outside the template",
                             "rebuild the zip with relative member names only")
        if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafePath(f"zip template {path.name} has a symlink member {name!r}",
                             "rebuild the zip without zip's --symlinks (-y) option, so that it stores files")
    return members[0].filename.rstrip("/") if members else ""


def outside_links(repo_dir: Path) -> list[tuple[str, str]]:
    """Every symlink under ``repo_dir`` that resolves outside it: (path relative to it, where it leads)."""
    root = os.path.realpath(repo_dir)
    found = []
    for top, dirs, files in os.walk(repo_dir):
        for name in dirs + files:
            path = os.path.join(top, name)
            if not os.path.islink(path):
                continue
            target = os.path.realpath(path)
            if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
                found.append((os.path.relpath(path, repo_dir), target))
    return sorted(found)


def check_links(repo_dir: Path) -> None:
    """Refuse a template with a symlink that leaves it: rendering would copy what it points at (a key,
    a token) into the project. Links inside the template are left to cookiecutter."""
    found = outside_links(repo_dir)
    if found:
        rel, target = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UnsafePath(f"template link {rel!r} points outside the template, to {target}{more}", _ALLOW_LINKS_HINT)


def one_line(exc: BaseException) -> str:
    inner = getattr(exc, "error", None)
    if inner is not None and getattr(exc, "message", None):  # UndefinedVariableInTemplate: not its context
        return " ".join(f"{exc.message}: {getattr(inner, 'message', inner)}".split())
    text = " ".join(str(exc).split())
    cause = exc.__cause__ or getattr(exc, "error", None)
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {' '.join(str(cause).split())}"
    return text or type(exc).__name__
