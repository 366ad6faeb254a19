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

from .config import ConfigError, fail, load_config, pair_options

T = TypeVar("T")


def parse_job(
    argv: list[str] | None, prog: str, doc: str | None, cls: type[T], out_required: bool = True
) -> tuple[T, Path | None]:
    """(config, out dir) from the command line; bad input exits with one line (``fail``)."""
    cfg, out, _ = _parse(argv, prog, doc, cls, out_required, resumable=False)
    return cfg, out


def _parse(
    argv: list[str] | None, prog: str, doc: str | None, cls: type[T], out_required: bool, resumable: bool
) -> tuple[T, Path | None, bool]:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__name__.rpartition('.')[0]} {prog}",
        description=(doc or "").strip().splitlines()[0] if doc else None,
        epilog="Any config key can be overridden, as --key=value or --key value: "
        + " ".join(f"--{f.name}" for f in dataclasses.fields(cls)),
        allow_abbrev=False,
    )
    parser.add_argument("--config", help="TOML file of config keys (see configs/)")
    parser.add_argument("--out", required=out_required, help="output folder")
    if resumable:
        parser.add_argument(
            "--resume", action="store_true",
            help="continue OUT/ckpt.pt at its exact step (without --config: with OUT/config.json)",
        )  # fmt: skip
    args, overrides = parser.parse_known_args(argv)
    resume = bool(getattr(args, "resume", False))
    out = Path(args.out) if args.out else None
    try:
        cfg = load_config(cls, args.config, overrides)
        if resume and args.config is None and out is not None and (out / "config.json").exists():
            cfg = _with_saved_config(cfg, out / "config.json", overrides)
    except ConfigError as exc:
        fail(str(exc))
    return cfg, out, resume


def _with_saved_config(cfg: T, path: Path, overrides: list[str]) -> T:
    """The run's saved config, with the keys given on this command line taking precedence."""
    saved = json.loads(path.read_text(encoding="utf-8"))
    options, _ = pair_options(list(overrides), type(cfg))
    given = {o[2:].partition("=")[0].replace("-", "_") for o in options}
    names = {f.name for f in dataclasses.fields(cfg)}  # type: ignore[arg-type]
    return dataclasses.replace(cfg, **{k: v for k, v in saved.items() if k in names and k not in given})  # type: ignore[type-var]


def run_job(
    argv: list[str] | None,
    prog: str,
    doc: str | None,
    cls: type[T],
    run: Callable[..., dict[str, Any]],
    shown: Sequence[str],
) -> int:
    """Parse, ``run(cfg, out, resume=...)``, print a one-line JSON summary; bad input exits with one
    line. Returns the run's exit code: 0, 1 (non-finite loss) or 128 + signal (stopped, resumable)."""
    cfg, out, resume = _parse(argv, prog, doc, cls, out_required=True, resumable=True)
    assert out is not None
    try:
        result = run(cfg, out, resume=resume)
    except ConfigError as exc:
        fail(str(exc))
    code = int(result.pop("exit_code", 0))
    if result and code == 0:  # rank 0 only
        print(json.dumps({k: result[k] for k in shown if k in result}))
        print(f"model saved to {out / 'model'}")
    return code
