"""From-scratch GPT training on CPU: the generated project's train loop vs a plain nanoGPT-style loop.

Both train the same model (the template's ``model.GPT``, sized as configs/gpt-tiny.toml) on the same
character-level tokens, with the same batch, learning-rate schedule and clipping, one after the other
in one process, alternating, and each measures steady-state tokens/s over the last --steps steps
(after as many warm-up steps). Prints medians and ours/theirs; the target is >= 1.0.

The baseline is nanoGPT's train.py loop as it runs on a CPU: random-offset batches built with
torch.stack, ``loss / grad_accum``, non-fused AdamW (nanoGPT fuses only on CUDA), fp32 (its autocast
context is a no-op on CPU), a hand-computed cosine LR, and ``loss.item()`` only at log steps.

    python benchmarks/bench_train_cpu.py                   # 3 runs each, 30 timed steps
    python benchmarks/bench_train_cpu.py --runs 5 --steps 50 --threads 2 --json
    python benchmarks/bench_train_cpu.py --precision bf16  # both under bf16 autocast
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import statistics
import sys
import tempfile
import time
from importlib import import_module
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).parent))
from bench_finetune import TEMPLATE, load_package  # noqa: E402 - the template's package, unrendered

CONFIG = TEMPLATE / "configs" / "gpt-tiny.toml"


def ours(tpl, cfg, steps: int) -> float:
    """tokens/s of train.train over steps N+1..2N (the loop's own log window)."""
    cfg = dataclasses.replace(
        cfg, max_steps=2 * steps, log_interval=steps, eval_interval=0, eval_batches=0,
        checkpoint_interval=0, progress=False, tensorboard=False,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as out:
        result = tpl.train.train(cfg, out, save=False)
    return [r for r in result.records if "tokens_per_s" in r][-1]["tokens_per_s"]


def nanogpt(tpl, cfg, tokens, vocab_size: int, steps: int) -> float:
    """tokens/s of a plain nanoGPT-style loop on the same model and tokens, over steps N+1..2N."""
    import torch

    torch.manual_seed(cfg.seed)
    model = tpl.model.GPT(
        tpl.model.GPTConfig(
            vocab_size=vocab_size, block_size=cfg.seq_len, n_layer=cfg.n_layer, n_head=cfg.n_head,
            d_model=cfg.d_model, d_ff=cfg.d_ff, dropout=cfg.dropout, bias=cfg.bias,
        )
    )  # fmt: skip
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
    )  # fmt: skip
    ctx = contextlib.nullcontext() if cfg.precision != "bf16" else torch.autocast("cpu", dtype=torch.bfloat16)
    data = tokens.long()
    block, batch, total = cfg.seq_len, cfg.batch_size, 2 * steps

    def get_batch():
        ix = torch.randint(len(data) - block - 1, (batch,))
        x = torch.stack([data[i : i + block] for i in ix])
        y = torch.stack([data[i + 1 : i + 1 + block] for i in ix])
        return x, y

    def get_lr(it: int) -> float:
        if it < cfg.warmup_steps:
            return cfg.lr * (it + 1) / cfg.warmup_steps
        ratio = (it - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
        return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * min(ratio, 1.0))) * (cfg.lr - cfg.min_lr)

    x, y = get_batch()
    loss, start = torch.zeros(()), time.perf_counter()
    for it in range(total):
        if it == steps:
            loss.item()  # sync, as nanoGPT's logging does
            start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it)
        for _ in range(cfg.grad_accum):
            with ctx:
                _, loss = model(x, y)
                loss = loss / cfg.grad_accum
            x, y = get_batch()
            loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    loss.item()
    return steps * cfg.grad_accum * batch * block / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run (after as many warm-up)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. --batch_size=32 (after --)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    name = load_package().__name__
    tpl = SimpleNamespace(**{m: import_module(f"{name}.{m}") for m in ("config", "data", "model", "train")})
    overrides = [*args.overrides, f"--precision={args.precision}"]
    cfg = tpl.config.load_config(tpl.train.TrainConfig, CONFIG, overrides)
    cfg = dataclasses.replace(cfg, device="cpu", compile=False)
    docs = tpl.data.corpus_documents(cfg.corpus)
    tokenizer = tpl.data.train_tokenizer(cfg.tokenizer, docs)
    tokens = tpl.data.as_token_tensor(tokenizer.encode_corpus(docs))
    vocab_size = -(-tokenizer.vocab_size // 64) * 64  # as train.build_model pads it

    a, b = [], []
    for _ in range(args.runs):  # alternate, so machine noise hits both
        a.append(ours(tpl, cfg, args.steps))
        b.append(nanogpt(tpl, cfg, tokens, vocab_size, args.steps))
    report = {
        "ours_tokens_per_s": statistics.median(a),
        "nanogpt_tokens_per_s": statistics.median(b),
        "ratio": statistics.median(a) / statistics.median(b),
        "runs": args.runs, "steps": args.steps, "threads": torch.get_num_threads(),
        "precision": args.precision, "batch_size": cfg.batch_size, "seq_len": cfg.seq_len,
        "d_model": cfg.d_model, "n_layer": cfg.n_layer,
    }  # fmt: skip
    if args.json:
        print(json.dumps(report))
    else:
        verdict = "OK" if report["ratio"] >= 1.0 else "MISSED"
        print(
            f"GPT training on CPU ({cfg.n_layer} layers, d_model {cfg.d_model}, batch {cfg.batch_size} x "
            f"{cfg.seq_len}, {args.precision}, {report['threads']} threads): ours "
            f"{report['ours_tokens_per_s']:,.0f} tok/s vs nanoGPT-style {report['nanogpt_tokens_per_s']:,.0f} "
            f"tok/s -> ratio {report['ratio']:.2f}x {verdict} (target >= 1.0x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
