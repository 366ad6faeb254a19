"""Layered settings: CLI, then SCAFFOLDER_* environment variables, then the project's
[tool.scaffolder], then the team/user file (SCAFFOLDER_CONFIG, or config.toml in the user config
directory). Every value remembers where it came from, so `scaffolder config show` can say.

The file (a team usually ships one and points SCAFFOLDER_CONFIG at it):

    template = "transformer"          # default template
    python = "3.11"
    env = "venv"                      # environment kind: venv | conda | none
    installer = "uv"                  # uv | pip
    torch = "auto"                    # auto | cpu | cu126 | ...
    platforms = ["linux-x86_64", "macos-arm64", "windows-x86_64"]  # what `scaffolder lock` covers
    compile_bytecode = false          # true: write .pyc at install (images, read-only envs)

    [index]
    url = "https://pypi.example.com/simple"
    extra_urls = ["https://mirror.example.com/simple"]
    find_links = ["/shared/wheels"]

    [torch_index]                     # per-variant PyTorch wheel index (mirrors, air-gapped sites)
    cpu = "https://download.pytorch.org/whl/cpu"
    cu126 = "https://mirror.example.com/torch/cu126"

    [conda]
    channels = ["conda-forge"]
    platforms = ["linux-64", "osx-arm64", "win-64"]   # locked besides this machine's
    engine = "auto"                   # auto | rattler | micromamba | mamba | conda
    exe = "/opt/micromamba/bin/micromamba"            # a specific executable
    search = ["micromamba", "mamba", "conda"]         # PATH search order

    [policy]
    allowed_templates = ["builtin:*", "plugin:*", "gh:acme/*"]   # a restriction: nothing else may be used
    trusted_templates = ["gh:acme/*"]   # run hooks and extensions, render unsandboxed, without --trust
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from scaffolder import tomlfile
from scaffolder.console import deprecated
from scaffolder.errors import ScaffolderError, UsageError
from scaffolder.indexes import IndexConfig, load_index_config

# key -> (environment variable, kind). "list" values come from the environment comma-separated.
KEYS: dict[str, tuple[str, str]] = {
    "template": ("SCAFFOLDER_TEMPLATE", "str"),
    "python": ("SCAFFOLDER_PYTHON", "str"),
    "env": ("SCAFFOLDER_ENV", "str"),
    "installer": ("SCAFFOLDER_INSTALLER", "str"),
    "torch": ("SCAFFOLDER_TORCH", "str"),
    "platforms": ("SCAFFOLDER_PLATFORMS", "list"),
    "compile_bytecode": ("SCAFFOLDER_COMPILE_BYTECODE", "str"),
    "index.url": ("SCAFFOLDER_INDEX_URL", "str"),
    "index.extra_urls": ("SCAFFOLDER_EXTRA_INDEX_URLS", "list"),
    "index.find_links": ("SCAFFOLDER_FIND_LINKS", "list"),
    "conda.channels": ("SCAFFOLDER_CONDA_CHANNELS", "list"),
    "conda.platforms": ("SCAFFOLDER_CONDA_PLATFORMS", "list"),
    "conda.engine": ("SCAFFOLDER_CONDA_ENGINE", "str"),
    "conda.exe": ("SCAFFOLDER_CONDA_EXE", "str"),
    "conda.search": ("SCAFFOLDER_CONDA_SEARCH", "list"),
    "policy.allowed_templates": ("SCAFFOLDER_ALLOWED_TEMPLATES", "list"),
    "policy.trusted_templates": ("SCAFFOLDER_TRUSTED_TEMPLATES", "list"),
}
# Per-variant torch indexes: torch_index.<variant>, env SCAFFOLDER_TORCH_INDEX_<VARIANT>.
TORCH_INDEX_PREFIX = "torch_index."
PROJECT_KEYS = ("template", "python", "env", "installer", "torch", "platforms")
DEFAULTS: dict[str, Any] = {"template": "transformer", "env": "venv", "torch": "auto"}
# Old spellings kept one more release, with a note: file key -> key, environment variable -> variable.
RENAMED_KEYS = {"backend": "env"}
RENAMED_VARS = {"SCAFFOLDER_BACKEND": "SCAFFOLDER_ENV"}


class PolicyError(ScaffolderError):
    pass


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # "cli", "env:NAME", "project:PATH", "file:PATH" or "default"


def config_path() -> Path:
    explicit = os.environ.get("SCAFFOLDER_CONFIG")
    if explicit:
        return Path(explicit)
    from platformdirs import user_config_dir

    return Path(user_config_dir("scaffolder")) / "config.toml"


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _known(key: str) -> bool:
    return key in KEYS or key.startswith(TORCH_INDEX_PREFIX)


def read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomlfile.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomlfile.TOMLDecodeError) as exc:
        raise UsageError(f"config file {path} is unreadable: {exc}", "fix it or unset SCAFFOLDER_CONFIG") from None
    flat = _flatten(data)
    for old, new in RENAMED_KEYS.items():
        if old in flat:
            deprecated(f"{old} in {path}", new)
            value = flat.pop(old)
            flat.setdefault(new, value)
    unknown = sorted(k for k in flat if not _known(k))
    if unknown:
        raise UsageError(f"config file {path} has unknown keys {', '.join(unknown)}",
                         f"known keys: {', '.join(sorted(KEYS))}, torch_index.<variant>")
    return flat


def _from_env() -> dict[str, Setting]:
    found: dict[str, Setting] = {}
    for key, (var, kind) in KEYS.items():
        raw = os.environ.get(var)
        old = next((o for o, n in RENAMED_VARS.items() if n == var and os.environ.get(o)), None)
        if old is not None:
            deprecated(old, var)
            if not raw:
                raw, var = os.environ[old], old
        if raw:
            value = [p.strip() for p in raw.split(",") if p.strip()] if kind == "list" else raw
            found[key] = Setting(value, f"env:{var}")
    for var, raw in os.environ.items():
        if var.startswith("SCAFFOLDER_TORCH_INDEX_") and raw:
            variant = var.removeprefix("SCAFFOLDER_TORCH_INDEX_").lower()
            found[f"{TORCH_INDEX_PREFIX}{variant}"] = Setting(raw, f"env:{var}")
    return found


# Lowest first: a layer overwrites the ones before it. "command" holds what the command itself
# decided while it ran (the Python it chose, say), so later steps see the decision.
LAYERS = ("default", "file", "project", "env", "cli", "command")


class Settings:
    """One command's settings, resolved once by ``load`` and passed down; nothing below a command
    reads the config file, SCAFFOLDER_* or pip's configuration again."""

    def __init__(self, layers: dict[str, dict[str, Setting]]) -> None:
        self._layers = layers
        self._values: dict[str, Setting] = {}
        for name in LAYERS:
            self._values.update(layers.get(name, {}))

    def get(self, key: str, default: Any = None) -> Any:
        setting = self._values.get(key)
        return default if setting is None else setting.value

    def source(self, key: str) -> str | None:
        setting = self._values.get(key)
        return None if setting is None else setting.source

    def torch_indexes(self) -> dict[str, str]:
        return {k.removeprefix(TORCH_INDEX_PREFIX): s.value for k, s in self._values.items()
                if k.startswith(TORCH_INDEX_PREFIX)}

    def items(self) -> list[tuple[str, Setting]]:
        return sorted(self._values.items())

    def with_values(self, **values: Any) -> Settings:
        """A copy with ``values`` decided by the command (None leaves a value as it was)."""
        decided = {k: Setting(v, "command") for k, v in values.items() if v is not None}
        return self._derive(command={**self._layers.get("command", {}), **decided})

    def with_project(self, project) -> Settings:  # noqa: ANN001 - Project, lazily
        """A copy whose project layer is ``project``'s [tool.scaffolder] as it is now (``new`` has a
        project only once the template is rendered); nothing is read from disk."""
        return self._derive(project=_project_layer(project))

    def _derive(self, **layers: dict[str, Setting]) -> Settings:
        derived = Settings({**self._layers, **layers})
        if "sources" in self.__dict__:  # neither layer can set an [index] key
            derived.__dict__["sources"] = self.__dict__["sources"]
        return derived

    @cached_property
    def sources(self) -> IndexConfig:
        """Where packages come from: pip's configuration, UV_* variables, then the [index] settings."""
        return load_index_config(team=self.team_sources)

    @property
    def team_sources(self) -> IndexConfig:
        """The [index] settings alone (team file, SCAFFOLDER_INDEX_URL, ...): what pip, which reads its
        own configuration, is given as flags."""
        return IndexConfig(self.get("index.url") or None, tuple(self.get("index.extra_urls") or ()),
                           tuple(self.get("index.find_links") or ()))


def _project_layer(project) -> dict[str, Setting]:  # noqa: ANN001
    if project is None:
        return {}
    return {key: Setting(project.recorded[key], f"project:{project.pyproject_path}")
            for key in PROJECT_KEYS if key in project.recorded}


def load(cli: dict[str, Any] | None = None, project=None) -> Settings:  # noqa: ANN001 - Project, lazily
    """Resolve the layers once for a command: CLI, SCAFFOLDER_*, the project, the team/user file."""
    path = config_path()
    return Settings({
        "default": {k: Setting(v, "default") for k, v in DEFAULTS.items()},
        "file": {k: Setting(v, f"file:{path}") for k, v in read_file(path).items()},
        "project": _project_layer(project),
        "env": _from_env(),
        "cli": {k: Setting(v, "cli") for k, v in (cli or {}).items() if v is not None},
    })


def check_template_allowed(spec: str, settings: Settings) -> None:
    """Refuse a template source that the team policy does not list (shell-style patterns)."""
    allowed = settings.get("policy.allowed_templates")
    if not allowed:
        return
    if any(fnmatch.fnmatchcase(spec, pattern) for pattern in allowed):
        return
    raise PolicyError(
        f"template {spec!r} is not allowed by the team policy ({settings.source('policy.allowed_templates')})",
        f"use one matching {', '.join(allowed)}",
    )


def template_trusted(spec: str, settings: Settings) -> bool:
    """Whether the team policy trusts a template source: ``policy.trusted_templates`` holds shell-style
    patterns matched against the source as recorded (``gh:acme/*``, a URL, an absolute path). A trusted
    template runs its hooks and extensions and renders outside the sandbox without --trust; links that
    leave it still need --allow-outside-links. A project's own [tool.scaffolder] cannot set this."""
    patterns = settings.get("policy.trusted_templates") or []
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(fnmatch.fnmatchcase(spec, str(pattern)) for pattern in patterns)
