"""What every virtual-environment backend shares: layout, health and installed packages.

Installed packages are read from ``*.dist-info/METADATA`` files, which takes milliseconds and
needs neither pip nor the env's interpreter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from scaffolder.envs.base import EnvBackend
from scaffolder.indexes import IndexConfig, load_index_config
from scaffolder.pythons import installed_distributions, site_packages

# Test suites that packages ship but nothing imports at run time; compiling them is about a third of
# the compile time of an ML env (torch, transformers, pandas, scipy, sympy).
_NOT_COMPILED = r"(?:.*[/\\])?(?:tests?|torch[/\\]testing[/\\]_internal)[/\\]"


def compile_bytecode(value: bool | str | None) -> bool:
    """Whether to compile .pyc files at install, from --compile-bytecode or the ``compile_bytecode``
    setting (SCAFFOLDER_COMPILE_BYTECODE=1, ``compile_bytecode = true``). Off by default, as in uv: on
    the transformer template it was 16 of `new`'s 18.5 s, and Python writes the .pyc of what is
    imported on first use (about 2 s once for torch + transformers; see docs/design.md). On for images
    and read-only envs, or machines that set PYTHONDONTWRITEBYTECODE."""
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def looks_like_venv(path: Path) -> bool:
    """Whether replacing or deleting ``path`` can only cost a virtual environment (even a damaged one)."""
    path = Path(path)
    if not path.is_dir() or not any(path.iterdir()):
        return path.is_dir()
    has_bin = (path / "bin").is_dir() or (path / "Scripts").is_dir()
    return (path / "pyvenv.cfg").is_file() or (has_bin and ((path / "lib").is_dir() or (path / "Lib").is_dir()))


class VenvBackend(EnvBackend):
    kind = "venv"
    # Packages the installer itself needs in the env; sync keeps them even if the lock lacks them.
    keep: frozenset[str] = frozenset()
    # --compile-bytecode or the compile_bytecode setting (``envs.venv.manager.venv_backend`` sets both)
    compile_bytecode: bool | str | None = None
    # The command's package sources (config.Settings.sources); None: pip's and uv's own configuration.
    sources: IndexConfig | None = None

    def package_sources(self) -> IndexConfig:
        return self.sources or load_index_config()

    def python(self, path: Path) -> Path:
        path = Path(path)
        return path / "Scripts" / "python.exe" if sys.platform == "win32" else path / "bin" / "python"

    def site_packages(self, path: Path) -> Path | None:
        return site_packages(path)

    def problem(self, path: Path) -> str | None:
        """Why the env at ``path`` cannot be used, or None when it looks whole."""
        path = Path(path)
        if not path.exists():
            return f"{path.name} does not exist"
        if not (path / "pyvenv.cfg").is_file():
            return f"{path.name} has no pyvenv.cfg, so it is not a virtual environment"
        if not os.path.exists(self.python(path)):  # follows symlinks: catches a removed base Python
            return f"{path.name} has no working Python ({self.python(path).relative_to(path)} is missing or dangling)"
        if self.site_packages(path) is None:
            return f"{path.name} has no site-packages"
        return None

    def python_version(self, path: Path) -> str | None:
        """The env's full Python version, from pyvenv.cfg."""
        try:
            text = (Path(path) / "pyvenv.cfg").read_text(encoding="utf-8")
        except OSError:
            return None
        values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        values = {k.strip(): v.strip() for k, v in values.items()}
        full = values.get("version_info") or values.get("version") or ""
        return ".".join(full.split(".")[:3]) or None

    def compile(self, path: Path) -> None:
        """Compile the env's site-packages in parallel, skipping files that are already compiled.

        Files that do not compile (some packages ship templates or Python 2 examples as .py) are
        left alone, as pip and uv do.
        """
        site = self.site_packages(path)
        if site is None or not compile_bytecode(self.compile_bytecode):
            return
        skip = "^" + re.escape(str(site)) + r"[/\\]" + _NOT_COMPILED  # only below site-packages
        subprocess.run([str(self.python(path)), "-m", "compileall", "-qq", "-j", "0", "-x", skip, str(site)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def installed(self, path: Path) -> dict[str, str]:
        return installed_distributions(self.site_packages(path))
