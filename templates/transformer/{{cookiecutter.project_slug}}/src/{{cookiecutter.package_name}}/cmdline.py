"""The shape every job command shares: ``--config FILE --out DIR [--key=value | --key value ...]``.

Parsing happens before torch is imported, so ``--help`` and bad options answer instantly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .config import ConfigError, fail, load_config

T = TypeVar("T")


def parse_job(
    argv: list[str] | None, prog: str, doc: str | None, cls: type[T], out_required: bool = True
) -> tuple[T, Path | None]:
    """(config, out dir) from the command line; bad input exits with one line (``fail``)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {__name__.rpartition('.')[0]} {prog}",
        description=(doc or "").strip().splitlines()[0] if doc else None,
        epilog="Any config key can be overridden, as --key=value or --key value: "
        + " ".join(f"--{f.name}" for f in dataclasses.fields(cls)),
    )
    parser.add_argument("--config", help="TOML file of config keys (see configs/)")
    parser.add_argument("--out", required=out_required, help="output folder")
    args, overrides = parser.parse_known_args(argv)
    try:
        cfg = load_config(cls, args.config, overrides)
    except ConfigError as exc:
        fail(str(exc))
    return cfg, (Path(args.out) if args.out else None)


def run_job(
    argv: list[str] | None,
    prog: str,
    doc: str | None,
    cls: type[T],
    run: Callable[[T, Path], dict[str, Any]],
    shown: Sequence[str],
) -> int:
    """Parse, ``run(cfg, out)``, print a one-line JSON summary; bad input exits with one line."""
    cfg, out = parse_job(argv, prog, doc, cls)
    assert out is not None
    try:
        result = run(cfg, out)
    except ConfigError as exc:
        fail(str(exc))
    if result:  # rank 0 only
        print(json.dumps({k: result[k] for k in shown if k in result}))
        print(f"model saved to {out / 'model'}")
    return 0
