"""The fallback when uv is missing or unwanted: virtualenv makes the env, pip fills it from the lock.

pip reads pip.conf and PIP_* itself. Sync installs first and removes extras after, so a failed
download or hash check (which pip reports before installing anything) leaves the env as it was;
pip-sync would uninstall first.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from scaffolder.envs.venv.backend import VenvBackend
from scaffolder.errors import EnvError
from scaffolder.locks import lockfile
from scaffolder.tools import python_module_cmd, run


class VirtualenvBackend(VenvBackend):
    name = "virtualenv"
    installer = "pip"
    keep = frozenset({"pip"})

    @classmethod
    def available(cls) -> bool:
        return importlib.util.find_spec("virtualenv") is not None

    def create(self, path: Path, python: str | None = None) -> None:
        cmd = python_module_cmd("virtualenv") + [str(path), "--no-setuptools", "--no-wheel", "--no-periodic-update",
                                                 "--quiet"]
        if python:
            cmd += ["--python", str(python)]
        run(cmd, what=f"creating {Path(path).name}", error=EnvError)

    def sync(self, path: Path, lock_file: Path, *, on_line: Callable[[str], None] | None = None) -> None:
        wanted = lockfile.read(lock_file).versions()
        python = str(self.python(path))
        where = f"installing into {Path(path).name}"
        if wanted:
            sources = self.package_sources()
            sink = on_line  # on a terminal: pip's Collecting/Downloading lines show
            run([python, "-m", "pip", "install", "--require-hashes", "--no-deps", "--no-input",
                 "--disable-pip-version-check", "--quiet" if sink is None else "--progress-bar=off", "--no-compile",
                 *sources.pip_args, "-r", str(lock_file)],
                what=where, error=EnvError, sources=sources, on_line=sink)
        extra = sorted(set(self.installed(path)) - set(wanted) - self.keep)
        if extra:
            run([python, "-m", "pip", "uninstall", "--yes", "--quiet", *extra], what=where, error=EnvError)
        self.compile(path)
