"""``scaffolder lock``: resolve the project's inputs into requirements.lock and requirements-dev.lock.

The dev lock is resolved with the main pins as constraints and lists only what dev adds, so
``pip install -r requirements.lock -r requirements-dev.lock`` never sees a package twice. Both
files are written only after both resolutions succeed, each by an atomic rename; a failure leaves
the old files byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import lockfile
from .config import load as load_settings
from .console import Reporter
from .errors import LockError
from .fsutil import atomic_write_bytes, atomic_write_text, temporary_dir_beside
from .indexes import load_index_config
from .lock_inputs import InputSet, LockInputs, fingerprint, gather
from .pythons import find_interpreters
from .resolvers import compile_requirements
from .torch_variant import TORCH_PACKAGES, check_locked_torch, local_variant_pin, variant_index
from .transaction import Transaction

MAIN_LOCK = "requirements.lock"
DEV_LOCK = "requirements-dev.lock"


@dataclass
class LockResult:
    main: Path
    dev: Path | None
    packages: int
    dev_packages: int
    engine: str
    torch: str | None
    written: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"main": str(self.main), "dev": str(self.dev) if self.dev else None, "packages": self.packages,
                "dev_packages": self.dev_packages, "engine": self.engine, "torch": self.torch,
                "written": self.written}


def fingerprints(inputs: LockInputs, python: str, torch: str) -> tuple[str, str | None]:
    """The inputs hash each lock must carry to be fresh; None for dev when there are no dev inputs."""
    torch_key = torch if inputs.uses_torch else None
    main = fingerprint(inputs.main, python=python, torch=torch_key)
    dev = None if inputs.dev.empty else fingerprint(inputs.dev, python=python, torch=torch_key, base=main)
    return main, dev


def lock_project(
    root: Path,
    pyproject: dict[str, Any],
    *,
    python: str,
    torch: str,
    engine: str,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    reporter: Reporter | None = None,
    txn: Transaction | None = None,
    extras: Sequence[str] | str = (),
) -> LockResult:
    root = Path(root)
    reporter = reporter or Reporter()
    inputs = gather(root, pyproject, extras)
    config = load_index_config()
    torch_key = torch if inputs.uses_torch else None
    torch_index = variant_index(torch, config.find_links, load_settings().torch_indexes()) if inputs.uses_torch \
        else None
    main_fp, dev_fp = fingerprints(inputs, python, torch)
    interpreter = find_interpreters().get(python)
    common = dict(engine=engine, python=python, interpreter=interpreter, torch_index=torch_index,
                  constraints=list(config.constraints), upgrade=upgrade, upgrade_packages=upgrade_packages)
    name = pyproject.get("project", {}).get("name") or root.name
    with temporary_dir_beside(root / MAIN_LOCK, prefix=".scaffolder-lock-") as tmp:
        local_pin = local_variant_pin(torch, config.find_links, python) if inputs.uses_torch and not torch_index \
            else None
        if local_pin:
            (tmp / "torch-variant.txt").write_text(local_pin + "\n", encoding="utf-8")
            common["constraints"] = [*common["constraints"], str(tmp / "torch-variant.txt")]
        main = _resolve(inputs.main, tmp, previous=_previous(root / MAIN_LOCK, torch_key, reporter), **common)
        _check_torch(main, torch, inputs)
        _finish(main, inputs.main, python, torch_key, main_fp, torch_index)
        texts = {MAIN_LOCK: main.render(_header(MAIN_LOCK, inputs.main, name, python, torch_key))}
        dev = None
        if dev_fp is not None:
            pins_file = tmp / "main-pins.txt"
            pins_file.write_text("".join(p.requirement + "\n" for p in main.pins.values()), encoding="utf-8")
            common["constraints"] = [*common["constraints"], str(pins_file)]
            dev = _resolve(inputs.dev, tmp, previous=_previous(root / DEV_LOCK, torch_key, reporter), **common)
            dev.pins = {n: p for n, p in dev.pins.items() if n not in main.pins}
            _check_torch(dev, torch, inputs)
            _finish(dev, inputs.dev, python, torch_key, dev_fp, torch_index)
            texts[DEV_LOCK] = dev.render(_header(DEV_LOCK, inputs.dev, name, python, torch_key))
    written = _write_all(root, texts, txn)
    return LockResult(root / MAIN_LOCK, root / DEV_LOCK if dev is not None else None, len(main.pins),
                      len(dev.pins) if dev else 0, engine, torch_key, written)


def lock_state(path: Path, expected: str | None) -> tuple[str, str]:
    """(state, detail) of one lock file: fresh, stale, missing, modified or corrupted."""
    path = Path(path)
    if expected is None:
        return ("stale", f"{path.name} exists but there are no inputs for it") if path.exists() else ("fresh", "")
    if not path.exists():
        return "missing", f"{path.name} does not exist"
    try:
        lock = lockfile.read(path)
    except LockError as exc:
        return "corrupted", exc.message
    if lock.content_ok is False:
        return "modified", f"{path.name} was changed after it was generated"
    recorded = lock.meta.get("inputs")
    if recorded is None:
        return "stale", f"{path.name} has no scaffolder inputs hash"
    if recorded != expected:
        return "stale", f"{path.name} is out of date with its inputs (dependencies, Python or torch changed)"
    return "fresh", ""


def _resolve(inputs: InputSet, tmp: Path, *, engine: str, python: str, interpreter: Path | None,
             torch_index: str | None, constraints: list[str], upgrade: bool, upgrade_packages: Sequence[str],
             previous: list[str]) -> lockfile.Lock:
    if inputs.empty:
        return lockfile.Lock()
    in_file = tmp / f"{inputs.label}.in"
    lines = [f"-r {f}" for f in inputs.files] + inputs.requirements + [f"-c {c}" for c in constraints]
    in_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out_file = tmp / f"{inputs.label}.txt"
    if previous and not upgrade:
        out_file.write_text("\n".join(previous) + "\n", encoding="utf-8")
    text = compile_requirements(engine, in_file, out_file, python=python, interpreter=interpreter,
                                extra_index_urls=[torch_index] if torch_index else [], upgrade=upgrade,
                                upgrade_packages=upgrade_packages)
    return lockfile.parse(text, f"{engine} output", drop_markers=True)


def _finish(lock: lockfile.Lock, inputs: InputSet, python: str, torch: str | None, inputs_fp: str,
            torch_index: str | None) -> None:
    """Make the resolver's output engine-independent: our own notes, metadata and index lines."""
    for name, pin in lock.pins.items():
        via = []
        for item in pin.via:
            if item.startswith("-c"):
                continue
            via.append(inputs.source if item.startswith("-r") else item)
        lock.pins[name] = lockfile.Pin(pin.name, pin.version, pin.url, pin.hashes, tuple(dict.fromkeys(via)))
    lock.options = [f"--extra-index-url {torch_index}"] if torch_index and "://" in torch_index \
        and not torch_index.startswith("file:") else []
    lock.meta = {"format": lockfile.FORMAT, "set": inputs.label, "python": python, "torch": torch or "none",
                 "inputs": inputs_fp}


def _check_torch(lock: lockfile.Lock, torch: str, inputs: LockInputs) -> None:
    pin = lock.pins.get("torch")
    if inputs.uses_torch and pin is not None:
        check_locked_torch(torch, pin.version)


def _previous(path: Path, torch_key: str | None, reporter: Reporter) -> list[str]:
    """Pins of the existing lock, preferred by the resolver so that relocking changes only what must."""
    if not path.exists():
        return []
    try:
        old = lockfile.read(path)
    except LockError as exc:
        reporter.warn(f"ignoring the pins of {path.name}: {exc.message}")
        return []
    same_torch = old.meta.get("torch", "none") == (torch_key or "none")
    return [p.requirement for n, p in old.pins.items() if same_torch or n not in TORCH_PACKAGES]


def _header(filename: str, inputs: InputSet, project: str, python: str, torch: str | None) -> list[str]:
    target = f"Python {python}" + (f", torch {torch}" if torch else "")
    if filename == MAIN_LOCK:
        first = f"{filename}: the pinned, hash-checked dependencies of {project}."
        install = f"pip install --require-hashes --no-deps -r {MAIN_LOCK}"
    else:
        first = f"{filename}: what development adds to {MAIN_LOCK} for {project} (same pins)."
        install = f"pip install --require-hashes --no-deps -r {MAIN_LOCK} -r {DEV_LOCK}"
    return [
        first,
        f"Made by scaffolder from {inputs.description}, for {target}.",
        "Do not edit. Regenerate: scaffolder lock   (newer versions: scaffolder lock --upgrade)",
        f"Install: scaffolder env sync   (or: {install})",
    ]


def _write_all(root: Path, texts: dict[str, str], txn: Transaction | None) -> list[str]:
    written = []
    for filename in (MAIN_LOCK, DEV_LOCK):
        path = root / filename
        new = texts.get(filename)
        old = path.read_bytes() if path.exists() else None
        if new is not None and old == new.encode("utf-8"):
            continue
        if new is None and old is None:
            continue
        if txn is not None:
            if old is None:
                txn.created_path(path)
            else:
                txn.on_rollback(f"restore {path}", lambda p=path, b=old: atomic_write_bytes(p, b))
        if new is None:
            path.unlink()
        else:
            atomic_write_text(path, new)
        written.append(filename)
    return written
