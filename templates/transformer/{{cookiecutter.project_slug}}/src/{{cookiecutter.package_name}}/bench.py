"""Measure training speed: ``python -m PACKAGE bench --config configs/gpt2-small.toml --steps 20``.

Runs the real training loop (train.py) for 2 x N optimizer steps, with no evaluation and no
checkpoints. The first N absorb warm-up (torch.compile, cuDNN/cuBLAS autotuning, allocator
growth); the last N are timed. Prints one JSON line: tokens_per_s, mfu (null when the device's
peak FLOPs are unknown; set PEAK_TFLOPS), peak memory, and the setup that produced them.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

from .config import ConfigError, fail
from .device import peak_memory_bytes, pick_device
from .train import build_parser, resolve_config, train


def main(argv: list[str] | None = None) -> int:
    package = __name__.rpartition(".")[0]
    parser = build_parser(f"python -m {package} bench", "Measure training tokens/s, MFU and peak memory.")
    parser.add_argument("--config", type=Path, help="TOML config, e.g. configs/gpt2-small.toml")
    parser.add_argument(
        "--steps", type=int, default=20, help="timed optimizer steps (after as many warm-up steps)"
    )
    args, overrides = parser.parse_known_args(argv)
    if args.steps < 1:
        fail("--steps must be at least 1")
    try:
        cfg = resolve_config(args.config, Path("."), False, overrides)
        cfg = dataclasses.replace(
            cfg, max_steps=2 * args.steps, log_interval=args.steps, eval_interval=0, eval_batches=0,
            checkpoint_interval=0, progress=False, tensorboard=False,
        )  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="bench-") as out:
            result = train(cfg, out, save=False)
    except ConfigError as exc:
        fail(str(exc))
    if result.exit_code != 0:
        return result.exit_code
    if result.setup["rank"] != 0:
        return 0
    timed = [r for r in result.records if "tokens_per_s" in r][-1]
    report = {
        "tokens_per_s": round(timed["tokens_per_s"], 1),
        "mfu": None if timed["mfu"] is None else round(timed["mfu"], 4),
        "peak_memory_gb": round(peak_memory_bytes(pick_device(cfg.device)) / 2**30, 3),
        **{k: v for k, v in result.setup.items() if k != "rank"},
        "model": cfg.model,
        "batch_size": cfg.batch_size,
        "grad_accum": cfg.grad_accum,
        "seq_len": cfg.seq_len,
        "steps_timed": args.steps,
        "loss": round(timed["loss"], 4),
    }
    print(json.dumps(report), flush=True)
    return 0
