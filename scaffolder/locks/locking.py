"""``scaffolder lock``: resolve the project's inputs into requirements.lock and requirements-dev.lock.

With uv the resolution is universal: one resolution for every platform of the project (``platforms``
in [tool.scaffolder]), pins under environment markers, and the hash of every wheel any of those
platforms installs. The lock is refused before it is written when a platform would find no file for
a package it needs. pip-compile has no universal mode: it is used only for a lock of this machine
alone (``--platform`` set to this one), and refused for more.

The dev lock is resolved with the main pins as constraints and lists only what dev adds, so
``pip install -r requirements.lock -r requirements-dev.lock`` never sees a package twice. Both
files are written only after both resolutions succeed, each by an atomic rename; a failure leaves
the old files byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffolder.console import Reporter
from scaffolder.errors import LockError
from scaffolder.fsutil import atomic_write_text, temporary_dir_beside
from scaffolder.indexes import IndexConfig, load_index_config
from scaffolder.locks import lockfile, pylock
from scaffolder.locks.inputs import InputSet, LockInputs, fingerprint, gather
from scaffolder.locks.platforms import DEFAULT_PLATFORMS, PLATFORMS, current_platform, marker_environment, wheel_fits
from scaffolder.locks.resolvers import compile_requirements
from scaffolder.locks.torch_variant import TORCH_PACKAGES, check_locked_torch, local_variant_pin, variant_index
from scaffolder.pythons import find_interpreters
from scaffolder.transaction import Transaction

MAIN_LOCK = "requirements.lock"
DEV_LOCK = "requirements-dev.lock"
PYLOCK = "pylock.toml"  # PEP 751, beside requirements.lock: the main set
PYLOCK_DEV = "pylock.dev.toml"  # the main set plus what development adds (installable alone)
VARIANT_LOCK = "requirements.{variant}.lock"  # the main set with another PyTorch build (cu126, ...)


def variant_lock(variant: str) -> str:
    return VARIANT_LOCK.format(variant=variant)


class CoverageError(LockError):
    """The configured package sources have no file of a locked package for some platforms."""

    def __init__(self, message: str, hint: str, uncovered: dict[str, str]) -> None:
        super().__init__(message, hint)
        self.uncovered = uncovered  # platform -> its first problem ("pkg 1.0 has no wheel for PLATFORM")


@dataclass
class LockResult:
    main: Path
    dev: Path | None
    packages: int
    dev_packages: int
    engine: str
    torch: str | None
    written: list[str] = field(default_factory=list)
    platforms: tuple[str, ...] = ()
    converted: bool = False  # a single-platform (format 1) lock was made universal

    def as_dict(self) -> dict[str, Any]:
        return {"main": str(self.main), "dev": str(self.dev) if self.dev else None, "packages": self.packages,
                "dev_packages": self.dev_packages, "engine": self.engine, "torch": self.torch,
                "platforms": list(self.platforms), "converted": self.converted, "written": self.written}


def fingerprints(inputs: LockInputs, python: str, torch: str, platforms: Sequence[str] | None = None
                 ) -> tuple[str, str | None]:
    """The inputs hash each lock must carry to be fresh; None for dev when there are no dev inputs."""
    torch_key = torch if inputs.uses_torch else None
    plats = sorted(platforms) if platforms else None
    main = fingerprint(inputs.main, python=python, torch=torch_key, platforms=plats)
    dev = None if inputs.dev.empty else fingerprint(inputs.dev, python=python, torch=torch_key, base=main,
                                                    platforms=plats)
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
    platforms: Sequence[str] | None = None,
    torch_variants: Sequence[str] = (),
    sources: IndexConfig | None = None,
    torch_indexes: Mapping[str, str] | None = None,
    inputs: LockInputs | None = None,
) -> LockResult:
    """Lock for ``platforms`` (default: the four common ones); uv resolves them all at once.

    ``torch_variants`` (cu126, ...) are further PyTorch builds beside ``torch``: each gets a complete
    main lock of its own, ``requirements.<variant>.lock``, for the platforms that have that build
    (a CUDA build has no macOS wheel); ``env sync`` installs it instead of requirements.lock on a
    machine that picks that build. Nothing is written unless every resolution succeeds.

    A command passes what it resolved once: ``sources`` and ``torch_indexes`` from its
    ``config.Settings``, ``inputs`` as it gathered them (with ``extras``); without them, pip's and uv's
    own configuration and the inputs read from ``pyproject``."""
    root = Path(root)
    reporter = reporter or Reporter()
    platforms = tuple(platforms or DEFAULT_PLATFORMS)
    universal = engine != "pip" or platforms != (current_platform(),)
    inputs = inputs or gather(root, pyproject, extras)
    config = sources or load_index_config()
    torch_indexes = dict(torch_indexes or {})
    torch_key = torch if inputs.uses_torch else None
    torch_index = variant_index(torch, config.find_links, torch_indexes) if inputs.uses_torch else None
    main_fp, dev_fp = fingerprints(inputs, python, torch, platforms)
    interpreter = None if universal else find_interpreters().get(python)
    common = dict(engine=engine, python=python, interpreter=interpreter, torch_index=torch_index, sources=config,
                  constraints=list(config.constraints), upgrade=upgrade, upgrade_packages=upgrade_packages,
                  platforms=platforms if universal else None)
    converted = _single_platform(root / MAIN_LOCK)
    name = pyproject.get("project", {}).get("name") or root.name
    with temporary_dir_beside(root / MAIN_LOCK, prefix=".scaffolder-lock-") as tmp:
        local_pin = local_variant_pin(torch, config.find_links, python) if inputs.uses_torch and not torch_index \
            else None
        if local_pin and universal:
            local_pin = _local_pin_for_platforms(local_pin, torch, config.find_links, platforms, python)
        if local_pin:
            (tmp / "torch-variant.txt").write_text(local_pin + "\n", encoding="utf-8")
            common["constraints"] = [*common["constraints"], str(tmp / "torch-variant.txt")]
        main, main_packages = _resolve(inputs.main, tmp, previous=_previous(root / MAIN_LOCK, torch_key, reporter),
                                       **common)
        _check_torch(main, torch, inputs, platforms, python)
        _finish(main, inputs.main, python, torch_key, main_fp, torch_index, platforms)
        texts = {MAIN_LOCK: main.render(_header(MAIN_LOCK, inputs.main, name, python, torch_key, platforms))}
        dev = None
        if dev_fp is not None:
            pins_file = tmp / "main-pins.txt"
            pins_file.write_text("".join(_constraint(p) + "\n" for p in main.pins.values()), encoding="utf-8")
            common["constraints"] = [*common["constraints"], str(pins_file)]
            dev, dev_packages = _resolve(inputs.dev, tmp, previous=_previous(root / DEV_LOCK, torch_key, reporter),
                                         **common)
            main_reqs = {(p.name, p.requirement) for p in main.pins.values() if not p.marker}
            dev.pins = {k: p for k, p in dev.pins.items()
                        if k not in main.pins and (p.name, p.requirement) not in main_reqs}
            _check_torch(dev, torch, inputs, platforms, python)
            _finish(dev, inputs.dev, python, torch_key, dev_fp, torch_index, platforms)
            texts[DEV_LOCK] = dev.render(_header(DEV_LOCK, inputs.dev, name, python, torch_key, platforms))
        if universal:
            meta = {"set": "main", "python": python, "torch": torch_key or "none", "inputs": main_fp}
            texts[PYLOCK] = pylock.render(main_packages or [], main.pins.values(), platforms, python, meta)
            if dev is not None:
                dev_meta = dict(meta, set="main+dev", inputs=dev_fp)
                texts[PYLOCK_DEV] = pylock.render([*(main_packages or []), *(dev_packages or [])],
                                                  [*main.pins.values(), *dev.pins.values()], platforms, python,
                                                  dev_meta)
        variants = [v for v in dict.fromkeys(torch_variants) if v != torch] if inputs.uses_torch else []
        for variant in variants:
            texts[variant_lock(variant)] = _lock_variant(root, inputs, tmp, variant, name, python, platforms,
                                                         config, dict(common, constraints=list(config.constraints)),
                                                         reporter, torch_indexes)
    written = _write_all(root, texts, txn)
    return LockResult(root / MAIN_LOCK, root / DEV_LOCK if dev is not None else None, len(main.pins),
                      len(dev.pins) if dev else 0, engine, torch_key, written, platforms, converted)


def _lock_variant(root: Path, inputs: LockInputs, tmp: Path, variant: str, name: str, python: str,
                  platforms: Sequence[str], config: IndexConfig, common: dict, reporter: Reporter,
                  torch_indexes: Mapping[str, str]) -> str:
    """requirements.<variant>.lock: the main set resolved with ``variant``'s torch, for the platforms
    of the set that have that build (the others are dropped, and said)."""
    index = variant_index(variant, config.find_links, torch_indexes)
    common = dict(common, torch_index=index)
    tmp = tmp / variant  # its own input and output files: main's output would act as preferred pins
    tmp.mkdir()
    local_pin = local_variant_pin(variant, config.find_links, python) if not index else None
    if local_pin and common.get("platforms") is not None:
        local_pin = _local_pin_for_platforms(local_pin, variant, config.find_links, platforms, python)
    if local_pin:
        (tmp / f"torch-{variant}.txt").write_text(local_pin + "\n", encoding="utf-8")
        common["constraints"] = [*common["constraints"], str(tmp / f"torch-{variant}.txt")]
    filename = variant_lock(variant)
    kept = tuple(p for p in platforms if variant == "cpu" or not p.startswith("macos"))  # no CUDA on macOS
    while True:
        if not kept:
            raise LockError(f"no platform of {', '.join(platforms)} has a {variant} build of torch",
                            f"drop {variant} from --torch, or add a platform that has it with --platform")
        try:
            lock, _ = _resolve(inputs.main, tmp, previous=_previous(root / filename, variant, reporter),
                               **dict(common, platforms=kept if common.get("platforms") is not None else None))
            break
        except CoverageError as exc:
            for platform, problem in exc.uncovered.items():
                reporter.warn(f"{filename}: not locking for {platform}: {problem}")
            kept = tuple(p for p in kept if p not in exc.uncovered)
    _check_torch(lock, variant, inputs, kept, python)
    fp = fingerprint(inputs.main, python=python, torch=variant, platforms=sorted(kept))
    _finish(lock, inputs.main, python, variant, fp, index, kept)
    header = _header(filename, inputs.main, name, python, variant, kept)
    header[0] = f"{filename}: the dependencies of {name} with the {variant} build of torch (instead of {MAIN_LOCK})."
    return lock.render(header)


def _local_pin_for_platforms(pin: str, variant: str, find_links: Sequence[str], platforms: Sequence[str],
                             python: str) -> str | None:
    """The wheelhouse pin (``torch==2.13.0+cpu``) limited by a marker to the platforms its wheels fit:
    a local folder usually holds one platform's build, and the others must still resolve elsewhere."""
    version = pin.split("==", 1)[1]
    names = []
    for link in find_links:
        folder = Path(link[len("file://"):] if link.startswith("file://") else link)
        if "://" in link and not link.startswith("file://"):
            continue
        try:
            names += [p.name for p in folder.glob(f"torch-{version}-*.whl")]
        except OSError:
            continue
    fits = [p for p in platforms if any(wheel_fits(n, p, python) for n in names)]
    if not fits:
        return None
    if len(fits) == len(platforms):
        return pin
    marker = " or ".join(f"(sys_platform == '{PLATFORMS[p].sys_platform}' and platform_machine == "
                         f"'{PLATFORMS[p].machine}')" for p in fits)
    return f"{pin} ; {marker}"


def _constraint(pin: lockfile.Pin) -> str:
    return pin.requirement + (f" ; {pin.marker}" if pin.marker else "")


def _single_platform(path: Path) -> bool:
    """Whether ``path`` is a readable lock of the older single-platform kind (format 1)."""
    try:
        return path.exists() and not lockfile.read(path).platforms
    except LockError:
        return False


def lock_state(path: Path, expected: str | None, platforms: Sequence[str] | None = None,
               here: str | None = None) -> tuple[str, str]:
    """(state, detail) of one lock file: fresh, stale, missing, modified or corrupted.

    ``platforms`` is the set the project records: a lock for another set, or a single-platform lock,
    is stale; so is a lock that does not cover ``here`` (this machine's platform)."""
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
    if platforms is not None:
        wanted = ",".join(platforms)
        if not lock.platforms:
            return "stale", (f"{path.name} is a single-platform lock (format 1, for the machine that made it); "
                             f"'scaffolder lock' converts it to one lock for {wanted.replace(',', ', ')}")
        if sorted(lock.platforms) != sorted(platforms):
            return "stale", (f"{path.name} covers {', '.join(lock.platforms)}, the project records "
                             f"{wanted.replace(',', ', ')}")
    if here is not None and lock.platforms and here not in lock.platforms:
        return "stale", (f"{path.name} does not cover this machine ({here}); it is locked for "
                         f"{', '.join(lock.platforms)}")
    if recorded != expected:
        return "stale", f"{path.name} is out of date with its inputs (dependencies, Python or torch changed)"
    return "fresh", ""


def _resolve(inputs: InputSet, tmp: Path, *, engine: str, python: str, interpreter: Path | None,
             torch_index: str | None, constraints: list[str], upgrade: bool, upgrade_packages: Sequence[str],
             previous: list[lockfile.Pin], platforms: Sequence[str] | None, sources: IndexConfig
             ) -> tuple[lockfile.Lock, list[pylock.Package] | None]:
    """Resolve one input set; ``platforms`` (None: this machine only, with pip-compile) makes it universal.
    Returns the lock and, for a universal resolution, uv's packages with their files."""
    if inputs.empty:
        return lockfile.Lock(), []
    in_file = tmp / f"{inputs.label}.in"
    lines = [f"-r {f}" for f in inputs.files] + inputs.requirements + [f"-c {c}" for c in constraints]
    in_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    universal = platforms is not None
    out_file = tmp / (f"pylock.{inputs.label}.toml" if universal else f"{inputs.label}.txt")
    if previous and not upgrade:
        out_file.write_text(pylock.preferences(previous) if universal else
                            "\n".join(p.requirement for p in previous) + "\n", encoding="utf-8")
    text = compile_requirements(engine, in_file, out_file, python=python, interpreter=interpreter,
                                extra_index_urls=[torch_index] if torch_index else [], upgrade=upgrade,
                                upgrade_packages=upgrade_packages, universal=universal, sources=sources)
    if not universal:
        return lockfile.parse(text, f"{engine} output", drop_markers=True), None
    packages = pylock.parse(text)
    missing = pylock.coverage_problems(packages, platforms, python)
    if missing:
        extra = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CoverageError(f"the lock would not install everywhere: {missing[0]}{extra}",
                            "pin a version that has wheels for every platform, or drop that platform with "
                            "'scaffolder lock --platform ...'",
                            uncovered={p: m for m, p in reversed([(m, m.rsplit(" ", 1)[1]) for m in missing])})
    return pylock.to_lock(packages, platforms, python), packages


def _finish(lock: lockfile.Lock, inputs: InputSet, python: str, torch: str | None, inputs_fp: str,
            torch_index: str | None, platforms: Sequence[str]) -> None:
    """Make the resolver's output engine-independent: our own notes, metadata and index lines."""
    for name, pin in lock.pins.items():
        via = []
        for item in pin.via:
            if item.startswith("-c"):
                continue
            via.append(inputs.source if item.startswith("-r") else item)
        lock.pins[name] = lockfile.Pin(pin.name, pin.version, pin.url, pin.hashes, tuple(dict.fromkeys(via)),
                                       pin.marker)
    lock.options = [f"--extra-index-url {torch_index}"] if torch_index and "://" in torch_index \
        and not torch_index.startswith("file:") else []
    lock.meta = {"format": lockfile.FORMAT, "set": inputs.label, "python": python, "torch": torch or "none",
                 "platforms": ",".join(platforms), "inputs": inputs_fp}


def _check_torch(lock: lockfile.Lock, torch: str, inputs: LockInputs, platforms: Sequence[str], python: str
                 ) -> None:
    """The torch each Linux platform of the lock installs must be the requested build."""
    if not inputs.uses_torch:
        return
    for platform in platforms:
        pin = lock.select(marker_environment(platform, python)).pins.get("torch")
        if pin is not None:
            check_locked_torch(torch, pin.version, "linux" if platform.startswith("linux") else platform)


def _previous(path: Path, torch_key: str | None, reporter: Reporter) -> list[lockfile.Pin]:
    """Pins of the existing lock, preferred by the resolver so that relocking changes only what must."""
    if not path.exists():
        return []
    try:
        old = lockfile.read(path)
    except LockError as exc:
        reporter.warn(f"ignoring the pins of {path.name}: {exc.message}")
        return []
    same_torch = old.meta.get("torch", "none") == (torch_key or "none")
    return [p for p in old.pins.values() if same_torch or p.name not in TORCH_PACKAGES]


def _header(filename: str, inputs: InputSet, project: str, python: str, torch: str | None,
            platforms: Sequence[str]) -> list[str]:
    target = f"Python {python}" + (f", torch {torch}" if torch else "") + f" on {', '.join(platforms)}"
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


def variant_locks(root: Path) -> dict[str, Path]:
    """variant -> requirements.<variant>.lock of the project."""
    found = {}
    for path in sorted(Path(root).glob(VARIANT_LOCK.format(variant="*"))):
        variant = path.name[len("requirements."):-len(".lock")]
        if variant == "cpu" or (variant.startswith("cu") and variant[2:].isdigit()):
            found[variant] = path
    return found


def _write_all(root: Path, texts: dict[str, str], txn: Transaction | None) -> list[str]:
    written = []
    variants = [p.name for p in variant_locks(root).values()] + [n for n in texts if n.startswith("requirements.")
                                                               and n != MAIN_LOCK]
    for filename in (MAIN_LOCK, DEV_LOCK, PYLOCK, PYLOCK_DEV, *dict.fromkeys(variants)):
        path = root / filename
        new = texts.get(filename)
        old = path.read_bytes() if path.exists() else None
        if new is not None and old == new.encode("utf-8"):
            continue
        if new is None and old is None:
            continue
        if txn is not None:
            txn.guard(path)
        if new is None:
            path.unlink()
        else:
            atomic_write_text(path, new)
        written.append(filename)
    return written
