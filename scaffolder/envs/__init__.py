"""Environment backends, one module each, registered in one dict.

A backend creates an environment, installs a lock file into it exactly (removing extras),
and reports what is installed. ``get_backend(name)`` imports only the module it needs.
"""

from __future__ import annotations

import importlib

from scaffolder.envs.base import EnvBackend
from scaffolder.errors import UsageError

# name -> "module:class" (or a factory that returns a backend)
BACKENDS: dict[str, str] = {
    "conda": "scaffolder.envs.conda:select_engine",  # micromamba/mamba/conda if found, else rattler
    "rattler": "scaffolder.envs.rattler:RattlerBackend",
    "uv": "scaffolder.envs.uv:UvBackend",  # venv made and filled by uv
    "virtualenv": "scaffolder.envs.virtualenv:VirtualenvBackend",  # venv by virtualenv, filled by pip
}


def get_backend(name: str) -> EnvBackend:
    target = BACKENDS.get(name)
    if target is None:
        raise UsageError(f"unknown environment backend {name!r}", f"choose one of: {', '.join(sorted(BACKENDS))}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()


__all__ = ["BACKENDS", "EnvBackend", "get_backend"]
