"""A virtual environment made and filled by uv: ``uv venv``, then ``uv pip sync`` from the lock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scaffolder.envs.venv.backend import VenvBackend
from scaffolder.errors import EnvError
from scaffolder.indexes import uv_environ, uv_index_args
from scaffolder.tools import find_uv, run


class UvBackend(VenvBackend):
    name = "uv"
    installer = "uv"

    @classmethod
    def available(cls) -> bool:
        return find_uv() is not None

    def create(self, path: Path, python: str | None = None) -> None:
        cmd = [find_uv(), "venv", str(path), "--no-project", "--quiet", "--color", "never", "--no-python-downloads"]
        if python:
            cmd += ["--python", str(python)]
        run(cmd, env=uv_environ(), what=f"creating {Path(path).name}", error=EnvError)

    def sync(self, path: Path, lock_file: Path, *, on_line: Callable[[str], None] | None = None) -> None:
        # Hash-checked (every lock line has --hash) and exact (removes what the lock lacks).
        sources = self.package_sources()
        sink = on_line  # on a terminal: uv's lines (Downloading torch (180MiB)...) show
        cmd = [find_uv(), "pip", "sync", str(lock_file), "--python", str(self.python(path)), "--require-hashes",
               "--allow-empty-requirements", *([] if sink else ["--quiet"]), "--color", "never", "--no-progress",
               *uv_index_args(sources)]
        run(cmd, env=uv_environ(), what=f"installing into {Path(path).name}", error=EnvError, sources=sources,
            on_line=sink)
        self.compile(path)
