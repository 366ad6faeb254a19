"""Real venvs for the tests that see exactly the packages of the interpreter running the suite.

A test that builds an environment (to register a kernel in it, to install a plugin into it) needs
ipykernel, scaffolder's dependencies and the rest from *somewhere* without installing them again.
``--system-site-packages`` is not that somewhere: it shows the *base* interpreter's site-packages,
which is the running environment only when the suite was installed into the system interpreter.
In a virtualenv, a nox session or a uv venv, the base has none of them.

So a child env is made from the base interpreter (what ``python -m venv`` does from inside a venv
too), without system site-packages, and given one ``.pth`` file whose lines call
``site.addsitedir`` on each site directory the running interpreter uses: its env's purelib and
platlib, the base's when that env inherits them, the user site when it was on at start-up. ``addsitedir`` also
reads the ``.pth`` files there (editable installs), and the child's own site-packages comes first,
so what a test installs into the child wins over what it inherits.
"""

import site
import subprocess
import sys
import sysconfig
from pathlib import Path

PTH_NAME = "_inherit_running_env.pth"


def running_site_dirs() -> list[str]:
    """The site directories on the running interpreter's ``sys.path``, in its order."""
    candidates = set(site.getsitepackages())
    candidates |= {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], site.getusersitepackages()}
    seen: list[str] = []
    for entry in sys.path:
        if entry in candidates and entry not in seen:
            seen.append(entry)
    return seen


def base_python() -> str:
    """The interpreter the running one was made from (itself when it is not in a venv)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidate = Path(sys.base_prefix) / "bin" / version
    return str(candidate) if candidate.is_file() else sys.executable


def make_env(path: Path, inherit: bool = True) -> Path:
    """A real venv at ``path`` (no pip); with ``inherit`` it sees the running interpreter's packages.

    Returns the env's interpreter. ``inherit=False`` gives an env with nothing installed.
    """
    subprocess.run([base_python(), "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    if inherit:
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        lines = [f"import site; site.addsitedir({d!r})\n" for d in running_site_dirs()]
        (Path(purelib) / PTH_NAME).write_text("".join(lines))
    return python
