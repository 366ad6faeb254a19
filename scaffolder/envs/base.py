"""The one interface every environment backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path


class EnvBackend(ABC):
    name: str = ""
    kind: str = ""  # "venv" or "conda"

    @classmethod
    @abstractmethod
    def available(cls) -> bool:
        """Whether this backend can run on this machine (its executable or library is present)."""

    @abstractmethod
    def create(self, path: Path, python: str | None = None) -> None:
        """Create an empty environment at ``path``."""

    @abstractmethod
    def sync(self, path: Path, lock_file: Path) -> None:
        """Make the environment match ``lock_file`` exactly, hash-checked, removing anything extra."""

    @abstractmethod
    def installed(self, path: Path) -> dict[str, str]:
        """Installed packages: normalised name -> version."""

    @abstractmethod
    def python(self, path: Path) -> Path:
        """The environment's Python interpreter."""
