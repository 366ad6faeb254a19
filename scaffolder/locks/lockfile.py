"""The lock file format: requirements.txt syntax with ``--hash`` lines, plus one metadata line.

Both resolvers' output is parsed and written back by this module, so uv and pip-compile produce
the same file for the same resolution. The metadata line records what the lock was made from::

    # scaffolder-lock: format=2 set=main python=3.11 torch=cpu platforms=linux-x86_64,macos-arm64
    #   inputs=sha256:... content=sha256:...     (all on one line)

A universal lock (format 2) is resolved once for several platforms: a pin may carry an environment
marker (``pkg==1.0 ; sys_platform == 'win32'``), and a package may be pinned more than once under
markers that exclude each other (torch ``+cpu`` on Linux, plain on macOS). ``Lock.select`` picks
what one machine installs. Format 1 is the older lock made for one platform, without markers.

``inputs`` detects a stale lock; ``content`` covers every line below the metadata line, so a pin or
hash edited by hand is caught before anything is installed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from scaffolder.errors import LockError
from scaffolder.locks.platforms import local_marker_environment, marker_holds

FORMAT = "2"
SINGLE_PLATFORM_FORMAT = "1"
META_PREFIX = "# scaffolder-lock:"
_OPTIONS = ("--index-url", "--extra-index-url", "--find-links", "--no-index", "-i", "-f")
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*"
    r"(?:==\s*(?P<version>[^\s;\\]+)|@\s*(?P<url>[^\s;]+))\s*(?P<rest>.*)$"
)
_HASH = re.compile(r"^--hash[=\s](?P<algo>sha256|sha384|sha512):(?P<hex>[0-9a-fA-F]+)$")
_HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}
_HINT = "run 'scaffolder lock' to write it again"


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    name: str
    version: str | None
    url: str | None = None
    hashes: tuple[str, ...] = ()
    via: tuple[str, ...] = ()
    marker: str | None = None  # environment marker: the platforms that install this pin

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}" if self.version else f"{self.name} @ {self.url}"

    @property
    def key(self) -> str:
        """The pin's key in ``Lock.pins``: its name, with its marker when it has one."""
        return f"{self.name} ; {self.marker}" if self.marker else self.name

    def render(self, annotate: bool = True) -> str:
        head = self.requirement + (f" ; {self.marker}" if self.marker else "")
        lines = [head + (" \\" if self.hashes else "")]
        lines += [f"    --hash={h}" + (" \\" if i < len(self.hashes) - 1 else "") for i, h in enumerate(self.hashes)]
        if annotate and len(self.via) == 1:
            lines.append(f"    # via {self.via[0]}")
        elif annotate and self.via:
            lines += ["    # via"] + [f"    #   {v}" for v in self.via]
        return "\n".join(lines)


@dataclass
class Lock:
    pins: dict[str, Pin] = field(default_factory=dict)  # Pin.key (canonical name [; marker]) -> pin
    options: list[str] = field(default_factory=list)  # index lines, e.g. "--extra-index-url URL"
    meta: dict[str, str] = field(default_factory=dict)
    content_ok: bool | None = None  # None: no content checksum recorded

    @property
    def platforms(self) -> tuple[str, ...]:
        """The platforms the lock was made for; empty for a single-platform (format 1) lock."""
        return tuple(p for p in self.meta.get("platforms", "").split(",") if p)

    def select(self, environment: dict[str, str], source: str = "the lock") -> Lock:
        """What a machine with these marker values installs: one pin per name, markers dropped."""
        pins: dict[str, Pin] = {}
        for pin in self.pins.values():
            if not marker_holds(pin.marker, environment):
                continue
            if pin.name in pins:
                raise LockError(f"{source} pins {pin.name} twice for this platform", _HINT)
            pins[pin.name] = Pin(pin.name, pin.version, pin.url, pin.hashes, pin.via)
        return Lock(pins=pins, options=list(self.options), meta=dict(self.meta), content_ok=self.content_ok)

    def versions(self, environment: dict[str, str] | None = None) -> dict[str, str]:
        """name -> version (or URL) of what a machine installs (``environment``: its marker values;
        by default the running interpreter's)."""
        lock = self
        if any(pin.marker for pin in self.pins.values()):
            lock = self.select(environment or local_marker_environment(_running_python()))
        return {name: pin.version or pin.url or "" for name, pin in lock.pins.items()}

    def body(self) -> str:
        parts = list(self.options)
        if self.options:
            parts.append("")
        parts += [self.pins[key].render() for key in sorted(self.pins)]
        return "\n".join(parts) + "\n"

    def render(self, header: list[str]) -> str:
        """The whole file: ``header`` comment lines, the metadata line, then the pins."""
        body = self.body()
        meta = {k: v for k, v in self.meta.items() if k != "content"}
        meta["content"] = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
        meta_line = META_PREFIX + " " + " ".join(f"{k}={v}" for k, v in meta.items())
        return "".join(f"# {line}".rstrip() + "\n" for line in header) + meta_line + "\n" + body


def parse(text: str, source: str = "lock file", *, drop_markers: bool = False) -> Lock:
    """Parse a hashed requirements file; any line it cannot account for is an error.

    ``drop_markers`` is for a single-platform resolver's output: a resolution for one interpreter
    lists only packages whose markers hold there, so the markers carry no information.
    """
    lock = Lock()
    meta_end = None
    current: dict | None = None
    entries: list[dict] = []
    for lineno, line in _logical_lines(text):
        stripped = line.strip()
        if stripped.startswith(META_PREFIX):
            lock.meta = dict(item.split("=", 1) for item in stripped[len(META_PREFIX):].split() if "=" in item)
            meta_end = _offset_after_line(text, lineno)
            continue
        if stripped.startswith("#"):
            if current is not None:
                _add_via(current, stripped)
            continue
        if not stripped:
            continue
        if stripped.startswith("-"):
            if not stripped.startswith(_OPTIONS):
                raise LockError(f"{source} line {lineno}: unsupported line {stripped[:60]!r}", _HINT)
            lock.options.append(" ".join(stripped.split()))
            current = None
            continue
        current = _parse_pin(stripped, source, lineno, drop_markers)
        entries.append(current)
    for entry in entries:
        pin = Pin(entry["name"], entry["version"], entry["url"], tuple(entry["hashes"]), tuple(entry["via"]),
                  entry["marker"])
        if pin.key in lock.pins:
            raise LockError(f"{source} pins {pin.name} twice", _HINT)
        lock.pins[pin.key] = pin
    if meta_end is not None and "content" not in lock.meta:
        raise LockError(f"{source} is cut short: its scaffolder-lock line has no content checksum", _HINT)
    if meta_end is not None:
        actual = "sha256:" + hashlib.sha256(text[meta_end:].encode()).hexdigest()
        lock.content_ok = actual == lock.meta["content"]
    return lock


def read(path: Path) -> Lock:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockError(f"{path.name} does not exist", "run 'scaffolder lock' to create it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError(f"cannot read {path.name}: {exc}", _HINT) from None
    return parse(text, path.name)


def read_verified(path: Path) -> Lock:
    """Read a lock that is about to be installed: it must be intact."""
    lock = read(path)
    if lock.content_ok is False:
        raise LockError(f"{Path(path).name} was changed after it was generated (a pin or --hash differs)", _HINT)
    return lock


def merge_for_install(locks: list[tuple[str, Lock]], environment: dict[str, str] | None = None) -> str:
    """One requirements file for the installer: all pins of all locks, with hashes, no duplicates.

    ``environment`` (marker values) selects one machine's pins from universal locks; without it the
    markers stay in the file and the installer evaluates them."""
    options: list[str] = []
    pins: dict[str, Pin] = {}
    owner: dict[str, str] = {}
    for source, lock in locks:
        if environment is not None:
            lock = lock.select(environment, source)
        options += [o for o in lock.options if o not in options]
        for name, pin in lock.pins.items():
            if name in pins and pins[name].requirement != pin.requirement:
                raise LockError(
                    f"{source} pins {pin.requirement} but {owner[name]} pins {pins[name].requirement}", _HINT
                )
            pins.setdefault(name, pin)
            owner.setdefault(name, source)
    merged = Lock(pins=pins, options=options)
    return "\n".join(merged.options + [pins[k].render(annotate=False) for k in sorted(pins)]) + "\n"


def _parse_pin(line: str, source: str, lineno: int, drop_markers: bool) -> dict:
    match = _PIN.match(line)
    if not match:
        raise LockError(f"{source} line {lineno} is not a pinned requirement: {line[:60]!r}", _HINT)
    rest = match["rest"]
    marker = None
    if rest.startswith(";"):
        marker_text = (rest[1:rest.find("--hash")] if "--hash" in rest else rest[1:]).strip()
        rest = rest[rest.find("--hash"):] if "--hash" in rest else ""
        if not drop_markers:
            marker = _normalise_marker(marker_text, source, lineno)
    hashes = []
    for token in rest.split():
        found = _HASH.match(token)
        if not found or len(found["hex"]) != _HEX_LEN[found["algo"]]:
            raise LockError(f"{source} line {lineno}: malformed hash {token[:40]!r}", _HINT)
        hashes.append(f"{found['algo']}:{found['hex'].lower()}")
    name = canonical_name(match["name"])
    if not hashes:
        raise LockError(f"{source} line {lineno}: {name} has no --hash", _HINT)
    return {"name": name, "version": match["version"], "url": match["url"], "hashes": hashes, "via": [],
            "marker": marker}


def _normalise_marker(text: str, source: str, lineno: int) -> str:
    from packaging.markers import InvalidMarker, Marker

    try:
        return str(Marker(text))
    except InvalidMarker as exc:
        raise LockError(f"{source} line {lineno}: invalid environment marker {text[:60]!r}: {exc}", _HINT) from None


def _running_python() -> str:
    import sys

    return "{}.{}.{}".format(*sys.version_info[:3])


def _add_via(entry: dict, comment: str) -> None:
    text = comment.lstrip("#").strip()
    if text.startswith("via"):
        text = text[3:].strip()
        entry["_in_via"] = True
    elif not entry.get("_in_via"):
        return
    entry["via"] += [item.strip() for item in text.split(",") if item.strip()]


def _logical_lines(text: str):
    """(first line number, line) with backslash continuations joined."""
    buffer, start = "", 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not buffer:
            start = lineno
        if raw.rstrip().endswith("\\"):
            buffer += raw.rstrip()[:-1] + " "
            continue
        yield start, buffer + raw
        buffer = ""
    if buffer:
        yield start, buffer


def _offset_after_line(text: str, lineno: int) -> int:
    offset = 0
    for _ in range(lineno):
        newline = text.find("\n", offset)
        if newline < 0:
            return len(text)
        offset = newline + 1
    return offset
