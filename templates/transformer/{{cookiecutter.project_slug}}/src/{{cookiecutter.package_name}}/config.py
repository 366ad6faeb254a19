"""Configs are plain dataclasses: defaults in code, values from a TOML file, then `--key=value` or
`--key value` (a boolean key alone, `--nsp`, means true).

    cfg = load_config(TrainConfig, "configs/gpt-tiny.toml", ["--lr=3e-4", "--max_steps", "100"])
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad config value; the CLI prints it as one line."""


def _coerce(value: str, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value.lower() in ("none", "null", ""):
            return None
        kind = args[0] if args else str
    if kind is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"expected a boolean, got {value!r}")
    if kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            raise ConfigError(f"expected {kind.__name__}, got {value!r}") from None
    if kind is str or kind is Any:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


_BOOL_WORDS = ("1", "true", "yes", "on", "0", "false", "no", "off")


def pair_options(tokens: list[str], cls: type) -> tuple[list[str], list[str]]:
    """(options as ``--key=value``, bare words) from command-line tokens: ``--key value`` becomes
    ``--key=value`` (the value may not start with ``--``); a boolean key of ``cls`` followed by no
    boolean word means true. Anything after ``--`` is a bare word."""
    hints = typing.get_type_hints(cls)
    options: list[str] = []
    words: list[str] = []
    i = 0
    while i < len(tokens):
        arg = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        i += 1
        if arg == "--":
            words += tokens[i:]
            break
        if not arg.startswith("--") or "=" in arg:
            (options if arg.startswith("-") and not _is_number(arg) else words).append(arg)
            continue
        key = arg[2:].replace("-", "_")
        if hints.get(key) in (bool, bool | None) and (nxt is None or nxt.lower() not in _BOOL_WORDS):
            options.append(f"{arg}=true")
        elif key != "help" and nxt is not None and not (nxt.startswith("--") and len(nxt) > 2):
            options.append(f"{arg}={nxt}")
            i += 1
        else:
            options.append(arg)  # --help, or a value is missing: load_config says so
    return options, words


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Build ``cls`` from its defaults, a TOML file, and ``--key=value`` / ``--key value`` overrides
    (highest wins)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    overrides, stray = pair_options(list(overrides or []), cls)
    if stray:
        raise ConfigError(f"unexpected argument {stray[0]!r}; options are --key=value or --key value")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"{path}: unknown keys {unknown}; known keys: {sorted(fields)}")
        values.update(data)
    for item in overrides or []:
        key, sep, raw = item.lstrip("-").partition("=")
        key = key.replace("-", "_")
        if key not in fields:
            raise ConfigError(f"unknown option --{key}; known options: {sorted(fields)}")
        if not sep:
            raise ConfigError(f"option {item!r} needs a value: --{key}=VALUE or --{key} VALUE")
        try:
            values[key] = _coerce(raw, hints[key])
        except ConfigError as exc:
            raise ConfigError(f"--{key}: {exc}") from None
    return cls(**values)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def fail(message: str) -> typing.NoReturn:
    """Print one line and exit non-zero: how every command reports bad input."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)
