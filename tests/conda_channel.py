"""Build real conda packages (.tar.bz2 and .conda) by hand, and index a local channel.

No conda channel is reachable from the test machines, so the tests make their own. The packages
are real archives in both formats, with info/index.json, info/paths.json (sha256 and sizes) and
payloads; py-rattler indexes, solves and links them exactly as it would conda-forge's.

The ``python`` package is a shim: a real conda package whose payload is a ``pyvenv.cfg`` and a
``bin/python3.X`` symlink to the interpreter running the tests, so the prefix it is linked into
becomes a working Python environment (the venv mechanism) with its own site-packages. No real
Python conda package exists offline; the shim lets the pip: section and noarch: python linking
be tested for real.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import sys
import tarfile
import zipfile
from pathlib import Path

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
PY_FULL = f"{PY}.{sys.version_info.micro}"
SUBDIRS = ("noarch", "linux-64", "osx-arm64", "win-64")


def _tar(members: list[tuple[str, bytes | tuple[str, str]]], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if isinstance(data, tuple):  # ("link", target)
                info.type = tarfile.SYMTYPE
                info.linkname = data[1]
                tf.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o755 if name.startswith("bin/") else 0o644
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def conda_package(
    channel: Path,
    name: str,
    version: str,
    *,
    build: str = "0",
    build_number: int = 0,
    subdir: str = "noarch",
    depends: tuple[str, ...] | list[str] = (),
    files: dict[str, bytes | tuple[str, str]] | None = None,
    fmt: str = "tar.bz2",
    noarch: str | None = None,
) -> Path:
    """Write one package archive into ``channel/subdir`` and return its path."""
    files = files if files is not None else {f"share/{name}/VERSION": f"{version}\n".encode()}
    index = {
        "name": name, "version": version, "build": build, "build_number": build_number,
        "depends": list(depends), "subdir": subdir, "license": "MIT", "timestamp": 1700000000000,
    }  # fmt: skip
    if subdir == "noarch":
        index["noarch"] = noarch or "generic"
    else:
        index["platform"], arch = subdir.split("-")
        index["arch"] = {"64": "x86_64", "arm64": "arm64", "aarch64": "aarch64"}[arch]
    paths = []
    for path, data in sorted(files.items()):
        if isinstance(data, tuple):
            paths.append({"_path": path, "path_type": "softlink",
                          "sha256": hashlib.sha256(data[1].encode()).hexdigest(), "size_in_bytes": len(data[1])})
        else:
            paths.append({"_path": path, "path_type": "hardlink",
                          "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)})
    info = [
        ("info/index.json", json.dumps(index).encode()),
        ("info/paths.json", json.dumps({"paths": paths, "paths_version": 1}).encode()),
        ("info/files", ("\n".join(sorted(files)) + "\n").encode()),
    ]
    out = Path(channel) / subdir
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{version}-{build}"
    payload = sorted(files.items())
    if fmt == "tar.bz2":
        target = out / f"{stem}.tar.bz2"
        target.write_bytes(_tar(info + payload, "w:bz2"))
        return target
    import zstandard  # comes with conda-lock

    zstd = zstandard.ZstdCompressor()
    target = out / f"{stem}.conda"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        z.writestr(f"pkg-{stem}.tar.zst", zstd.compress(_tar(payload, "w")))
        z.writestr(f"info-{stem}.tar.zst", zstd.compress(_tar(info, "w")))
    return target


def python_shim(channel: Path, subdir: str = "linux-64") -> Path:
    """A ``python`` package that makes its prefix a venv around this interpreter (see module doc)."""
    real = os.path.realpath(sys.executable)
    cfg = f"home = {os.path.dirname(real)}\ninclude-system-site-packages = false\nversion = {PY_FULL}\n"
    return conda_package(channel, "python", PY_FULL, build="shim_0", subdir=subdir, files={
        "pyvenv.cfg": cfg.encode(),
        f"bin/python{PY}": ("link", real),
        "bin/python": ("link", f"python{PY}"),
        f"lib/python{PY}/site-packages/.keep": b"",
    })  # fmt: skip


def index(channel: Path) -> Path:
    import rattler

    for sub in SUBDIRS:
        (Path(channel) / sub).mkdir(parents=True, exist_ok=True)
    asyncio.run(rattler.index.index_fs(Path(channel), write_zst=False, write_shards=False, force=True))
    return Path(channel)


def standard_channel(channel: Path) -> Path:
    """The channel most tests use.

    noarch: liba 1.0 (.tar.bz2), liba 2.0 (.conda), libb 1.0 (.conda, needs liba >=1,<2),
    tool 0.1 (.tar.bz2, needs libb, ships bin/tool), pip 24.0, purepy 1.0 (noarch: python),
    pytest/ruff/nox/ipykernel 9999.0 (empty noarch: python stand-ins, so a generated project's dev group solves);
    linux-64: the python shim; pytorch 2.5.0 cpu_0, cuda118_1 (needs __cuda >=11.8) and
    cuda126_2 (needs __cuda >=12.6), the CUDA builds ranked higher like conda-forge's;
    win-64: pytorch cpu_0 and cuda126_2; osx-arm64: pytorch cpu_0 only (all three have python shims).
    """
    conda_package(channel, "liba", "1.0")
    conda_package(channel, "liba", "2.0", fmt="conda")
    conda_package(channel, "libb", "1.0", depends=["liba >=1,<2"], fmt="conda")
    conda_package(channel, "tool", "0.1", depends=["libb"], files={"bin/tool": b"#!/bin/sh\necho tool 0.1\n"})
    conda_package(channel, "pip", "24.0", files={"share/pip/README": b"stand-in; scaffolder installs with uv\n"})
    conda_package(channel, "purepy", "1.0", build="pyh_0", noarch="python", depends=["python >=3.8"],
                  files={"site-packages/purepy/__init__.py": b"WHERE = 'conda'\n"}, fmt="conda")
    for tool in ("pytest", "ruff", "nox", "ipykernel"):  # stand-ins for a generated project's dev group
        conda_package(channel, tool, "9999.0", build="stand_in_0", noarch="python",
                      files={f"site-packages/{tool}_stand_in.py": b"STAND_IN = True\n"})
    python_shim(channel, "linux-64")
    python_shim(channel, "osx-arm64")
    python_shim(channel, "win-64")
    for subdir, builds in (("linux-64", ("cpu_0", "cuda118_1", "cuda126_2")), ("win-64", ("cpu_0", "cuda126_2")),
                           ("osx-arm64", ("cpu_0",))):
        for build in builds:
            cuda = build[4:].split("_")[0]
            depends = [f"__cuda >={cuda[:-1]}.{cuda[-1]}"] if build.startswith("cuda") else []
            conda_package(channel, "pytorch", "2.5.0", build=build, build_number=int(build[-1]), subdir=subdir,
                          depends=depends, fmt="conda")
    return index(channel)


def snapshot(root: Path) -> dict[str, str]:
    """Every file and link under ``root`` with its content hash or link target, to prove nothing changed."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            digest = "-> " + os.readlink(path) if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
            found[rel] = digest
    return found
