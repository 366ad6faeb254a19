"""Build tiny real wheels and sdists, and lay them out as a find-links folder and a PEP 503 index.

Wheels are written as zip files directly (metadata, module, RECORD), which takes milliseconds and
needs no build backend. Used by the environment and locking tests to resolve and install offline.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import sys
import tarfile
import zipfile
from contextlib import contextmanager
from pathlib import Path


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(dest: Path, name: str, version: str, requires: tuple[str, ...] | list[str] = (),
               body: str | None = None, requires_python: str | None = None, extra: dict | None = None,
               tag: str = "py3-none-any") -> Path:
    """A wheel of ``name`` whose module has ``VERSION`` (and ``TAG``, for a platform ``tag`` such as
    ``py3-none-win_amd64``) and imports nothing; ``extra`` adds files (path in the wheel -> text)."""
    dist = canonical(name).replace("-", "_")
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{dist}-{version}-{tag}.whl"
    if body is None and tag != "py3-none-any":
        body = f"VERSION = {version!r}\nTAG = {tag!r}\n"
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{dist}/__init__.py": body if body is not None else f"VERSION = {version!r}\n",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: scaffolder-tests\nRoot-Is-Purelib: "
                         f"{'true' if tag.endswith('-any') else 'false'}\nTag: {tag}\n",
    }
    files.update(extra or {})
    record = "".join(f"{p},{_record_hash(t.encode())},{len(t.encode())}\n" for p, t in files.items())
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for p, text in files.items():
            zi = zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0))
            zf.writestr(zi, text)
    return path


_FAILING_BACKEND = '''
import os

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = os.path.join(metadata_directory, "{dist}-{version}.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as fh:
        fh.write("Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n")
    return "{dist}-{version}.dist-info"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("this package cannot be built (test fault)")

def build_sdist(sdist_directory, config_settings=None):
    raise RuntimeError("no sdist")
'''


def make_unbuildable_sdist(dest: Path, name: str, version: str) -> Path:
    """An sdist whose metadata is readable (so it locks) but whose wheel build fails (so install fails)."""
    dist = canonical(name).replace("-", "_")
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{dist}-{version}.tar.gz"
    top = f"{dist}-{version}"
    files = {
        "PKG-INFO": f"Metadata-Version: 2.2\nName: {name}\nVersion: {version}\n",
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        "backend.py": _FAILING_BACKEND.format(dist=dist, name=name, version=version),
    }
    with tarfile.open(path, "w:gz") as tf:
        for rel, text in files.items():
            data = text.encode()
            ti = tarfile.TarInfo(f"{top}/{rel}")
            ti.size = len(data)
            ti.mtime = 1577836800
            tf.addfile(ti, io.BytesIO(data))
    return path


def make_simple_index(files_dir: Path, root: Path, relative: bool = False) -> str:
    """A PEP 503 index at ``root``/simple over every distribution in ``files_dir``; returns its file:// URL.

    ``relative`` copies the files under ``root``/files and links them relatively, so that the
    index can be served over HTTP as it is.
    """
    simple = root / "simple"
    if relative:
        import shutil

        shutil.copytree(files_dir, root / "files", dirs_exist_ok=True)
        files_dir = root / "files"
    by_project: dict[str, list[Path]] = {}
    for f in sorted(files_dir.iterdir()):
        stem = f.name.split("-")[0]
        by_project.setdefault(canonical(stem), []).append(f)
    simple.mkdir(parents=True, exist_ok=True)
    links = []
    for project, dists in by_project.items():
        (simple / project).mkdir(exist_ok=True)
        anchors = "".join(
            f'<a href="{f"../../files/{d.name}" if relative else d.resolve().as_uri()}'
            f'#sha256={hashlib.sha256(d.read_bytes()).hexdigest()}">{d.name}</a>\n'
            for d in dists
        )
        (simple / project / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{anchors}</body></html>\n")
        links.append(f'<a href="{project}/">{project}</a>\n')
    (simple / "index.html").write_text("<!DOCTYPE html><html><body>\n" + "".join(links) + "</body></html>\n")
    return simple.resolve().as_uri()


def offline_environ(base: dict[str, str], *, find_links: Path | None = None, index_url: str | None = None
                    ) -> dict[str, str]:
    """An environment in which pip and uv see only the given local sources (no pip.conf, no PyPI)."""
    env = {k: v for k, v in base.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE="/dev/null", UV_NO_CONFIG="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               UV_PYTHON_DOWNLOADS="never")
    if "UV_CACHE_DIR" in base:
        env["UV_CACHE_DIR"] = base["UV_CACHE_DIR"]
    if index_url:
        env["PIP_INDEX_URL"] = index_url
    else:
        env["PIP_NO_INDEX"] = "1"
    if find_links:
        env["PIP_FIND_LINKS"] = str(find_links)
    return env


PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


def build_standard_index(root: Path) -> tuple[Path, str]:
    """Packages with real dependency constraints: (find-links dir, simple index URL)."""
    files = root / "files"
    make_wheel(files, "sc-alpha", "1.0", ["sc-beta>=1"])
    make_wheel(files, "sc-alpha", "2.0", ["sc-beta>=2"])
    make_wheel(files, "sc-beta", "1.0")
    make_wheel(files, "sc-beta", "2.0")
    make_wheel(files, "sc-gamma", "1.0", ["sc-beta<2"])
    make_wheel(files, "sc-devtool", "1.0", ["sc-beta"])
    make_unbuildable_sdist(files, "sc-broken", "1.0")
    return files, make_simple_index(files, root / "index")


# The wheel platform tag each platform of a universal lock installs in these tests.
PLATFORM_TAGS = {
    "linux-x86_64": "manylinux_2_28_x86_64",
    "linux-aarch64": "manylinux_2_28_aarch64",
    "macos-arm64": "macosx_11_0_arm64",
    "windows-x86_64": "win_amd64",
}
UV_TARGETS = {"linux-x86_64": "x86_64-manylinux_2_28", "linux-aarch64": "aarch64-manylinux_2_28",
              "macos-arm64": "aarch64-apple-darwin", "windows-x86_64": "x86_64-pc-windows-msvc"}


def build_platform_index(root: Path) -> tuple[Path, str]:
    """Packages with one wheel per platform: (files dir, simple index URL).

    sc-native 1.0 has a wheel for each of the four platforms (its module says which, as ``TAG``) and
    needs sc-winhelp on Windows only; sc-native 2.0 has a Linux x86_64 wheel only, so a universal
    lock must not pick it; sc-beta and sc-winhelp are pure Python.
    """
    files = root / "files"
    make_wheel(files, "sc-beta", "1.0")
    make_wheel(files, "sc-beta", "2.0")
    make_wheel(files, "sc-winhelp", "1.0")
    requires = ["sc-beta", "sc-winhelp; sys_platform == 'win32'"]
    for tag in PLATFORM_TAGS.values():
        make_wheel(files, "sc-native", "1.0", requires, tag=f"py3-none-{tag}")
    make_wheel(files, "sc-native", "2.0", requires, tag="py3-none-manylinux_2_28_x86_64")
    return files, make_simple_index(files, root / "index")


def write_project(root: Path, deps=(), dev=(), extras=None, name="demo", settings: str = "") -> Path:
    """A scaffolder project: pyproject.toml with dependencies, dev group and [tool.scaffolder].

    Rewriting an existing project changes its dependencies and keeps its [tool.scaffolder] table.
    """
    root.mkdir(parents=True, exist_ok=True)
    path = root / "pyproject.toml"
    kept = path.read_text().split("[tool.scaffolder]", 1)[1] if path.exists() else None
    lines = ["[project]", f'name = "{name}"', 'version = "0.1.0"', f"dependencies = {list(deps)!r}".replace("'", '"')]
    if extras:
        lines.append("[project.optional-dependencies]")
        lines += [f"{k} = {list(v)!r}".replace("'", '"') for k, v in extras.items()]
    if dev:
        lines += ["[dependency-groups]", f"dev = {list(dev)!r}".replace("'", '"')]
    if kept is not None:
        lines += ["[tool.scaffolder]" + kept.rstrip("\n")]
    else:
        lines += ["[tool.scaffolder]", 'template = "test"', f'python = "{PY}"', settings]
    path.write_text("\n".join(lines) + "\n")
    return root


@contextmanager
def serve(root: Path):
    """Serve ``root`` over HTTP on a free local port; yields the base URL."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
