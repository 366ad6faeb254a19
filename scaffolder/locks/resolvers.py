"""The two resolvers behind ``scaffolder lock``: ``uv pip compile`` and pip-tools' ``pip-compile``.

Each turns a requirements file into a hashed, fully pinned one. Both see the same package
sources: pip-compile reads pip's configuration itself, uv gets it as flags (see indexes.py).
Only uv resolves universally (one resolution for every platform, ``--universal``); it then writes
PEP 751 pylock.toml, whose file names let scaffolder check each platform has a wheel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from scaffolder.errors import LockError
from scaffolder.indexes import (
    IndexConfig,
    hashed_find_links,
    load_index_config,
    uv_environ,
    uv_index_args,
)
from scaffolder.locks.platforms import current_platform
from scaffolder.pythons import current_version
from scaffolder.tools import find_uv, python_module_cmd, run

RESOLVERS = ("uv", "pip")  # what --installer picks


def default_engine() -> str:
    return "uv" if find_uv() else "pip"


def compile_requirements(
    engine: str,
    in_file: Path,
    out_file: Path,
    *,
    python: str,
    interpreter: Path | None = None,
    extra_index_urls: Sequence[str] = (),
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    sources: IndexConfig | None = None,
    universal: bool = False,
) -> str:
    """Resolve ``in_file`` into ``out_file`` (an existing ``out_file`` gives preferred pins); return its text.

    ``universal`` (uv only) resolves for every platform at once and writes pylock.toml; ``out_file``
    must then be named ``pylock.NAME.toml``."""
    config = sources or load_index_config()  # a command passes config.Settings.sources
    if extra_index_urls:
        extra = tuple(dict.fromkeys((*config.extra_index_urls, *extra_index_urls)))
        config = dataclasses.replace(config, extra_index_urls=extra)
    if engine == "uv":
        if universal:
            config = hashed_find_links(config)
        cmd = _uv_cmd(in_file, out_file, python, None if universal else interpreter, config, universal)
        env = uv_environ()
    elif engine == "pip":
        if universal:
            raise LockError("pip-compile cannot lock for several platforms (it resolves for this machine only)",
                            "lock with uv (scaffolder lock --installer uv), or for this machine only "
                            f"(scaffolder lock --installer pip --platform {current_platform()})")
        if python != current_version():
            raise LockError(
                f"pip-compile resolves for the Python running it ({current_version()}), not {python}",
                f"use --installer uv, or run scaffolder with Python {python}",
            )
        cmd = python_module_cmd("piptools") + [
            "compile", str(in_file), "--output-file", str(out_file), "--generate-hashes", "--allow-unsafe",
            "--strip-extras", "--no-header", "--no-emit-index-url", "--no-emit-find-links",
            "--no-emit-trusted-host", "--no-config", "--quiet", *config.pip_args,
        ]
        for url in extra_index_urls:
            cmd += ["--extra-index-url", url]
        env = None
    else:
        raise LockError(f"unknown installer {engine!r}", f"use one of: {', '.join(RESOLVERS)}")
    if upgrade:
        cmd.append("--upgrade")
    for package in upgrade_packages:
        cmd += ["--upgrade-package", package]
    run(cmd, env=env, cwd=in_file.parent, what="resolving dependencies", error=LockError, sources=config)
    return out_file.read_text(encoding="utf-8")


def _uv_cmd(in_file: Path, out_file: Path, python: str, interpreter: Path | None, config: IndexConfig,
            universal: bool = False) -> list[str]:
    uv = find_uv()
    if not uv:
        raise LockError("uv is not installed", "install scaffolder's 'uv' dependency, or use --installer pip")
    form = ["--universal", "--format", "pylock.toml"] if universal else ["--generate-hashes"]
    cmd = [uv, "pip", "compile", str(in_file), "--output-file", str(out_file), *form,
           "--no-header", "--quiet", "--color", "never", "--no-progress", "--no-python-downloads"]
    cmd += ["--python", str(interpreter)] if interpreter else ["--python-version", python]
    return cmd + uv_index_args(config)
