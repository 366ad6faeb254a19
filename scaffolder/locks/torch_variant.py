"""Which PyTorch build a project gets (CPU or a CUDA variant such as cu126), and where its wheels live.

``auto`` reads the NVIDIA driver version (nvidia-smi, else /proc/driver/nvidia/version) and picks
the newest CUDA variant that driver can run; with no driver it picks ``cpu``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from scaffolder.errors import LockError, UsageError

DEFAULT_INDEX = "https://download.pytorch.org/whl/{variant}"
TORCH_PACKAGES = frozenset({"torch", "torchvision", "torchaudio"})
# Variants `auto` chooses from, newest first: the CUDA builds current PyTorch releases publish.
AUTO_CANDIDATES = ("cu130", "cu128", "cu126", "cu118")
PROC_VERSION_FILE = Path("/proc/driver/nvidia/version")

# Oldest Linux driver able to run each CUDA line, from NVIDIA's minor-version-compatibility
# table (the same one uv's --torch-backend=auto uses).
_MIN_DRIVER_BY_CUDA_MAJOR = {13: (580,), 12: (525, 60, 13), 11: (450, 80, 2)}
_MIN_DRIVER_OLD = {"cu110": (450, 36, 6), "cu102": (440, 33), "cu101": (418, 39), "cu100": (410, 48)}
_VARIANT = re.compile(r"^(cpu|cu\d{2,3})$")


def validate_variant(text: str) -> str:
    value = text.strip().lower()
    if value == "auto" or _VARIANT.match(value):
        return value
    raise UsageError(f"unknown PyTorch variant {text!r}", "use auto, cpu or a CUDA variant such as cu126")


def parse_driver_version(text: str) -> tuple[int, ...] | None:
    """'550.54.15' or a /proc/driver/nvidia/version line -> (550, 54, 15)."""
    match = re.search(r"Kernel Module.*?\s(\d+)\.(\d+)(?:\.(\d+))?\b", text) or re.match(
        r"\s*(\d+)\.(\d+)(?:\.(\d+))?\b", text)
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def detect_driver_version(proc_file: Path = PROC_VERSION_FILE) -> tuple[int, ...] | None:
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=15)
            version = parse_driver_version(out.stdout) if out.returncode == 0 else None
            if version:
                return version
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        return parse_driver_version(Path(proc_file).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def minimum_driver(variant: str) -> tuple[int, ...] | None:
    if variant in _MIN_DRIVER_OLD:
        return _MIN_DRIVER_OLD[variant]
    digits = variant[2:]
    major = int(digits[:-1])
    return _MIN_DRIVER_BY_CUDA_MAJOR.get(major)


def choose_variant(driver: tuple[int, ...] | None, candidates: Iterable[str] = AUTO_CANDIDATES) -> str:
    """The newest candidate CUDA variant ``driver`` supports, else cpu."""
    if driver is None:
        return "cpu"
    ranked = sorted((c for c in candidates if c.startswith("cu")), key=lambda c: int(c[2:]), reverse=True)
    for variant in ranked:
        needed = minimum_driver(variant)
        if needed is not None and driver >= needed:
            return variant
    return "cpu"


def resolve_variant(requested: str | None, environ: Mapping[str, str] | None = None,
                    proc_file: Path = PROC_VERSION_FILE) -> str:
    """A concrete variant (never ``auto``): what the user asked for, or what this machine can run."""
    env = os.environ if environ is None else environ
    value = validate_variant(requested or "auto")
    if value != "auto":
        return value
    candidates = env.get("SCAFFOLDER_TORCH_VARIANTS", "").replace(",", " ").split() or AUTO_CANDIDATES
    return choose_variant(detect_driver_version(proc_file), [validate_variant(c) for c in candidates])


def variant_index(variant: str, find_links: Iterable[str] = (), configured: Mapping[str, str] | None = None,
                  environ: Mapping[str, str] | None = None) -> str | None:
    """The wheel index for ``variant``; None when the user's own sources already serve it.

    ``SCAFFOLDER_TORCH_INDEX_<VARIANT>`` (e.g. SCAFFOLDER_TORCH_INDEX_CU126), then ``configured``
    (the team file's [torch_index]) point a variant at a mirror; an empty value means "use only the
    configured package indexes". A local find-links directory that holds that variant's torch wheel
    (an air-gapped wheelhouse) serves it too.
    """
    env = os.environ if environ is None else environ
    key = f"SCAFFOLDER_TORCH_INDEX_{variant.upper()}"
    if key in env:
        return env[key].strip() or None
    if configured and variant in configured:
        return str(configured[variant]).strip() or None
    if any(_holds_variant(link, variant) for link in find_links):
        return None
    return DEFAULT_INDEX.format(variant=variant)


def check_locked_torch(variant: str, torch_version: str | None, platform: str = sys.platform) -> None:
    """Refuse a lock whose torch is not the requested build, before anything downloads it.

    On Linux PyPI's plain torch wheel is a CUDA build of several GB: a CPU project must get '+cpu'.
    """
    if torch_version is None or not platform.startswith("linux"):
        return
    label = torch_version.partition("+")[2]
    if variant == "cpu" and label != "cpu":
        raise LockError(
            f"torch resolved to {torch_version}, a CUDA build, but this project wants the CPU build",
            "point SCAFFOLDER_TORCH_INDEX_CPU at an index or wheel folder with torch +cpu wheels",
        )
    if variant.startswith("cu") and label and label != variant:
        raise LockError(
            f"torch resolved to {torch_version}, not the {variant} build",
            f"check SCAFFOLDER_TORCH_INDEX_{variant.upper()} or choose another --torch",
        )


def local_variant_pin(variant: str, find_links: Iterable[str], python: str) -> str | None:
    """``torch==X+variant`` for the newest such wheel in a local find-links folder that fits ``python``.

    A wheelhouse serves the variant, but an index beside it may offer a newer plain (CUDA) torch, and
    resolvers take the newest version: pinning the wheelhouse's build keeps the variant.
    """
    from packaging.version import InvalidVersion, Version

    tag = "cp" + python.replace(".", "")[:3]
    best: Version | None = None
    for link in find_links:
        if "://" in link and not link.startswith("file://"):
            continue
        path = Path(link[len("file://"):]) if link.startswith("file://") else Path(link)
        try:
            names = [p.name for p in path.glob(f"torch-*+{variant}-*.whl")]
        except OSError:
            continue
        for name in names:
            parts = name[: -len(".whl")].split("-")
            if len(parts) < 5 or parts[2] != tag:
                continue
            try:
                version = Version(parts[1])
            except InvalidVersion:
                continue
            best = version if best is None or version > best else best
    return f"torch=={best}" if best is not None else None


def _holds_variant(link: str, variant: str) -> bool:
    path = Path(link[len("file://"):]) if link.startswith("file://") else Path(link)
    if "://" in link and not link.startswith("file://"):
        return False
    try:
        return any(p.name.startswith("torch-") and f"+{variant}-" in p.name for p in path.glob("torch-*.whl"))
    except OSError:
        return False
