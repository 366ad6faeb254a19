"""Configs are plain dataclasses: defaults in code, values from a TOML file, then `--key=value`.

    cfg = load_config(TrainConfig, "configs/gpt-tiny.toml", ["--lr=3e-4", "--max_steps=100"])
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


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Build ``cls`` from its defaults, a TOML file, and ``--key=value`` overrides (highest wins)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
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
        if not sep:
            raise ConfigError(f"override {item!r} is not --key=value")
        if key not in fields:
            raise ConfigError(f"unknown option --{key}; known options: {sorted(fields)}")
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
