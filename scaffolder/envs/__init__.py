"""A project's environment: two kinds, venv (``envs/venv/``) and conda (``envs/conda/``), each a
manager behind the one ``EnvManager`` interface (``envs/base.py``) and the backends that make and
fill its environments.

Both registries hold "module:attribute" strings, so that only what a command needs is imported:
``manager_for(kind)`` returns the manager of an env kind (``MANAGERS``), ``get_backend(name)`` one
backend (``BACKENDS``: uv, virtualenv + pip, a conda executable, rattler).
"""

from __future__ import annotations

import importlib

from scaffolder.envs.base import EnvBackend, EnvManager
from scaffolder.errors import UsageError

# name -> "module:class" (or a factory that returns a backend)
BACKENDS: dict[str, str] = {
    "conda": "scaffolder.envs.conda.executable:select_engine",  # micromamba/mamba/conda if found, else rattler
    "rattler": "scaffolder.envs.conda.rattler:RattlerBackend",
    "uv": "scaffolder.envs.venv.uv:UvBackend",  # venv made and filled by uv
    "virtualenv": "scaffolder.envs.venv.virtualenv:VirtualenvBackend",  # venv by virtualenv, filled by pip
}
# env kind -> "module:class" of its manager.
MANAGERS: dict[str, str] = {
    "venv": "scaffolder.envs.venv.manager:VenvManager",
    "conda": "scaffolder.envs.conda.manager:CondaManager",
}


def get_backend(name: str) -> EnvBackend:
    target = BACKENDS.get(name)
    if target is None:
        raise UsageError(f"unknown environment backend {name!r}", f"choose one of: {', '.join(sorted(BACKENDS))}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()


def manager_for(kind: str | None) -> EnvManager:
    kind = kind or "venv"
    target = MANAGERS.get(kind)
    if target is None:
        raise UsageError(f"environment kind {kind!r} is not available", f"use one of: {', '.join(MANAGERS)}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()


__all__ = ["BACKENDS", "MANAGERS", "EnvBackend", "EnvManager", "get_backend", "manager_for"]
