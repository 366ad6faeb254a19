"""Train a Transformer from scratch, on one CPU, one GPU, or many GPUs on many machines.

    python -m PACKAGE train --config configs/gpt-tiny.toml --out runs/tiny
    python -m PACKAGE train --out runs/tiny --resume --max-steps 4000       # continue, train longer
    torchrun --standalone --nproc_per_node=8 -m PACKAGE train --config configs/gpt2-small.toml --out runs/gpt2
    torchrun --nnodes=2 --node_rank=R --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 \\
        -m PACKAGE train ...                                           # multi-node: OUT on a shared disk

One plain loop that reads top to bottom, nanoGPT style: config, devices, data, model, optimizer,
resume, wrapping (FSDP or DDP, then torch.compile), the loop, the end of the run.

What lands in OUT:
    ckpt.pt        latest checkpoint (model, optimizer, scheduler, scaler, RNG, step, data position),
                   replaced atomically, so a crash or kill never leaves a half-written one
    config.toml    the resolved config: `--resume` without `--config` reads it
    tokenizer.json the tokenizer trained on the corpus
    metrics.jsonl  one JSON object per logged step (step, loss, lr, tokens_per_s, mfu, ...) and per eval
    tb/            the same numbers for TensorBoard (skipped when tensorboard is not installed)
    loss.png       the loss curves, drawn at the end of the run

Data: a corpus prepared by `prepare` (a folder with manifest.json) is read through memory maps; any
other corpus is prepared into OUT/data first, once, by rank 0 (the other ranks wait), and read the
same way. No rank holds the corpus in memory, and each reads its own windows.

SIGTERM or SIGINT (cluster preemption, Ctrl-C) saves a checkpoint and exits with 128 + signal
number (under torchrun, all ranks agree on it after every step); a second Ctrl-C stops at once.
A non-finite loss or gradient stops the run with exit code 1 and keeps the last good checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .config import ConfigError, config_to_dict, fail, load_config
from .data import (
    BUILTIN_CORPORA,
    PAD,
    LMBatches,
    Seq2SeqBatches,
    lm_eval_batches,
    load_tokenizer,
    random_tokens,
    seq2seq_eval_batches,
)
from .device import (
    DistInfo,
    autocast,
    enable_tf32,
    gpu_name,
    grad_scaler,
    init_distributed,
    peak_flops,
    resolve_precision,
    rng_state,
    seed_everything,
    set_rng_state,
    synchronize,
    teardown_distributed,
)
from .model import GPT, IGNORE_INDEX, GPTConfig, Seq2SeqConfig, Seq2SeqTransformer
from .prepare import PrepareConfig, TokenShards, is_prepared, prepare, read_manifest
from .progress import bar
from .provenance import record_run


@dataclass
class TrainConfig:
    # model: "gpt" (decoder-only language model) or "seq2seq" (encoder-decoder on the copy/reverse demo)
    model: str = "gpt"
    d_model: int = 384
    n_head: int = 6
    n_layer: int = 6  # GPT layers; decoder layers for seq2seq
    n_encoder_layer: int = 6  # seq2seq only
    d_ff: int = 0  # 0: 4 * d_model
    seq_len: int = 256  # GPT context; longest source for seq2seq
    dropout: float = 0.0
    bias: bool = False
    vocab_size: int = 0  # 0: the tokenizer's size rounded up to a multiple of 64 (faster matmuls)
    # data
    # corpus: a prepared folder (python -m PACKAGE prepare ...), or one prepared into OUT/data first:
    # synthetic | shakespeare | random (speed only) | a text/.jsonl/.parquet file, folder or glob
    corpus: str = "synthetic"
    tokenizer: str = "char"  # char | bpe | a tokenizer.json or hub name (ignored for a prepared corpus)
    bpe_vocab_size: int = 4096
    val_fraction: float = 0.1  # the held-out share of a corpus prepared into OUT/data
    prepare_workers: int = 0  # processes that tokenise a corpus into OUT/data; 0: one per core
    task: str = "reverse"  # seq2seq demo: copy | reverse
    n_symbols: int = 16  # seq2seq demo alphabet
    min_len: int = 4  # seq2seq demo: shortest source
    # optimisation
    batch_size: int = 32  # sequences per micro-step, per process
    grad_accum: int = 1  # micro-steps per optimizer step, per process
    # tokens per optimizer step over all processes; when set, grad_accum is derived from it:
    # tokens_per_step / (batch_size x seq_len x processes), so the step is the same on 1 or 64 GPUs
    tokens_per_step: int = 0
    max_steps: int = 2000  # optimizer steps
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    decay_steps: int = 0  # cosine decay ends here; 0: max_steps (of the first run: --resume keeps it)
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0 disables clipping
    # hardware
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto (bf16 on capable GPUs, else fp16; fp32 on CPU) | bf16 | fp16 | fp32
    compile: bool | None = None  # torch.compile; unset: on for CUDA, off elsewhere
    compile_mode: str = "default"  # or "max-autotune-no-cudagraphs": slower to compile, may run faster
    fsdp: bool = False  # shard parameters, gradients and optimizer state across processes
    seed: int = 1337
    # reporting and checkpoints
    log_interval: int = 10
    eval_interval: int = 250  # 0: evaluate only at the end
    eval_batches: int = 20
    checkpoint_interval: int = 250  # 0: checkpoint only at the end (and on SIGTERM/SIGINT)
    progress: bool = True
    tensorboard: bool = True


# Keys a resumed run must share with its checkpoint: they shape the model or the data.
ARCH_KEYS = (
    "model", "d_model", "n_head", "n_layer", "n_encoder_layer", "d_ff", "seq_len", "bias", "vocab_size",
    "corpus", "tokenizer", "bpe_vocab_size", "task", "n_symbols", "min_len",
)  # fmt: skip


def check_config(cfg: TrainConfig) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    need(cfg.model in ("gpt", "seq2seq"), f"model must be 'gpt' or 'seq2seq', got {cfg.model!r}")
    need(cfg.d_model % cfg.n_head == 0, f"d_model ({cfg.d_model}) must be divisible by n_head ({cfg.n_head})")
    for name in ("d_model", "n_head", "n_layer", "seq_len", "batch_size", "grad_accum", "log_interval"):
        need(getattr(cfg, name) >= 1, f"{name} must be at least 1, got {getattr(cfg, name)}")
    need(cfg.max_steps >= 0, f"max_steps must be >= 0, got {cfg.max_steps}")
    need(bool(cfg.tokenizer), "tokenizer must be char, bpe, a tokenizer.json file or a hub name")
    need(0.0 < cfg.val_fraction < 1.0, f"val_fraction must be between 0 and 1, got {cfg.val_fraction}")
    need(cfg.tokens_per_step >= 0, f"tokens_per_step must be >= 0, got {cfg.tokens_per_step}")
    need(
        not (cfg.tokens_per_step and cfg.model != "gpt"),
        "tokens_per_step is for model = 'gpt' (seq2seq batches vary in tokens); set grad_accum",
    )
    need(
        not (cfg.tokens_per_step and cfg.grad_accum != 1),
        "set grad_accum or tokens_per_step, not both (--tokens_per_step=0 to give grad_accum)",
    )
    need(
        cfg.precision in ("auto", "bf16", "fp16", "fp32"),
        f"precision must be auto|bf16|fp16|fp32, got {cfg.precision!r}",
    )
    modes = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
    need(cfg.compile_mode in modes, f"compile_mode must be one of {modes}, got {cfg.compile_mode!r}")
    need(
        not (cfg.fsdp and cfg.precision == "fp16"),
        "fsdp supports bf16 and fp32, not fp16; use --precision=bf16",
    )


# ----------------------------------------------------------------------------------------------------
# Data and model


def prepared_corpus(cfg: TrainConfig, out: Path, info: DistInfo) -> Path:
    """The prepared folder to read: ``cfg.corpus`` itself, or OUT/data, prepared once by rank 0 (a
    resumed run finds it there). The other ranks wait, and fail with rank 0's error if it fails."""
    corpus = Path(cfg.corpus).expanduser()
    if is_prepared(corpus):
        return corpus
    is_glob = any(c in cfg.corpus for c in "*?[")
    if cfg.corpus not in BUILTIN_CORPORA and not is_glob and not corpus.exists():
        package = __name__.rpartition(".")[0]
        raise ConfigError(
            f"corpus {cfg.corpus!r} not found; prepare it first: python -m {package} prepare "
            f"--corpus=SOURCE --tokenizer=... --out {cfg.corpus} (SOURCE: text files, a folder, a glob, "
            "JSONL, parquet or a datasets name)"
        )
    data = out / "data"
    error = None
    if info.is_main:
        pcfg = PrepareConfig(
            corpus=cfg.corpus, tokenizer=cfg.tokenizer, bpe_vocab_size=cfg.bpe_vocab_size,
            val_fraction=cfg.val_fraction, workers=cfg.prepare_workers,
        )  # fmt: skip
        try:
            prepare(pcfg, data, log=print if cfg.progress else None)
        except ConfigError as exc:
            error = str(exc)
    if info.is_distributed:
        shared = [error]
        dist.broadcast_object_list(shared, src=0)  # also the barrier: the others wait for the shards
        error = shared[0]
    if error:
        raise ConfigError(error)
    return data


def accumulation_steps(cfg: TrainConfig, world_size: int) -> int:
    """Micro-steps per optimizer step for each process: grad_accum, or derived from tokens_per_step."""
    if not cfg.tokens_per_step:
        return cfg.grad_accum
    per_micro_step = cfg.batch_size * cfg.seq_len * world_size
    if cfg.tokens_per_step % per_micro_step:
        raise ConfigError(
            f"tokens_per_step {cfg.tokens_per_step} is not a multiple of batch_size x seq_len x processes "
            f"= {cfg.batch_size} x {cfg.seq_len} x {world_size} = {per_micro_step}; change one of them"
        )
    return cfg.tokens_per_step // per_micro_step


def build_data(cfg: TrainConfig, out: Path, info: DistInfo) -> tuple[Any, list, int]:
    """(training batch stream, validation batches, vocabulary size) for this process."""
    if cfg.model == "seq2seq":
        args = (cfg.task, cfg.n_symbols, cfg.min_len, cfg.seq_len, cfg.batch_size, cfg.seed)
        stream = Seq2SeqBatches(*args, rank=info.rank, world_size=info.world_size)
        return stream, seq2seq_eval_batches(stream, cfg.eval_batches), stream.vocab_size
    if cfg.corpus == "random":
        if not cfg.vocab_size:
            raise ConfigError("corpus 'random' needs --vocab_size=N")
        n_tokens = max(1_000_000, 4 * cfg.batch_size * info.world_size * (cfg.seq_len + 1) * 10)
        tokens, vocab_size = random_tokens(n_tokens, cfg.vocab_size, cfg.seed), cfg.vocab_size
        n_val = int(len(tokens) * cfg.val_fraction)
        train_tokens, val_tokens = tokens[: len(tokens) - n_val], tokens[len(tokens) - n_val :]
    else:
        root = prepared_corpus(cfg, out, info)
        vocab_size = int(read_manifest(root)["tokenizer"]["vocab_size"])
        if info.is_main and not (out / "tokenizer.json").exists():  # for load_trained
            shutil.copyfile(root / "tokenizer.json", out / "tokenizer.json.tmp")
            os.replace(out / "tokenizer.json.tmp", out / "tokenizer.json")
        train_tokens, val_tokens = TokenShards(root, "train"), TokenShards(root, "val")
    stream = LMBatches(train_tokens, cfg.seq_len, cfg.batch_size, cfg.seed, info.rank, info.world_size)
    val = lm_eval_batches(
        val_tokens, cfg.seq_len, cfg.batch_size, cfg.eval_batches, info.rank, info.world_size
    )
    return stream, val, vocab_size


def build_model(cfg: TrainConfig, vocab_size: int) -> GPT | Seq2SeqTransformer:
    if cfg.vocab_size and cfg.vocab_size < vocab_size:
        raise ConfigError(f"vocab_size {cfg.vocab_size} is smaller than the tokenizer's {vocab_size}")
    vocab = cfg.vocab_size or -(-vocab_size // 64) * 64
    if cfg.model == "gpt":
        return GPT(
            GPTConfig(
                vocab_size=vocab, block_size=cfg.seq_len, n_layer=cfg.n_layer, n_head=cfg.n_head,
                d_model=cfg.d_model, d_ff=cfg.d_ff, dropout=cfg.dropout, bias=cfg.bias,
            )
        )  # fmt: skip
    return Seq2SeqTransformer(
        Seq2SeqConfig(
            vocab_size=vocab, max_len=cfg.seq_len + 1, d_model=cfg.d_model, n_head=cfg.n_head,
            n_encoder_layer=cfg.n_encoder_layer, n_decoder_layer=cfg.n_layer,
            d_ff=cfg.d_ff or 4 * cfg.d_model, dropout=cfg.dropout, bias=cfg.bias, pad_id=PAD,
        )
    )  # fmt: skip


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices (matmul weights, embeddings), none on biases and norm gains.

    ``fused=True`` runs the whole update as one kernel per device instead of a loop over tensors."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device.type in ("cuda", "cpu")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)


def lr_factor(step: int, warmup: int, decay: int, min_ratio: float) -> float:
    """Linear warm-up to the peak, then a cosine down to min_lr at ``decay``, then flat."""
    if step < warmup:
        return (step + 1) / warmup
    if step >= decay:
        return min_ratio
    progress = (step - warmup) / max(1, decay - warmup)
    return min_ratio + 0.5 * (1.0 - min_ratio) * (1.0 + math.cos(math.pi * progress))


def apply_hyperparameters(optimizer: torch.optim.Optimizer, scheduler: Any, cfg: TrainConfig) -> None:
    """Config values win over those stored with the optimizer and scheduler in a checkpoint."""
    scheduler.base_lrs = [cfg.lr] * len(optimizer.param_groups)
    factor = scheduler.lr_lambdas[0](scheduler.last_epoch)
    for group, decay in zip(optimizer.param_groups, (cfg.weight_decay, 0.0), strict=True):
        group.update(lr=cfg.lr * factor, betas=(cfg.beta1, cfg.beta2), weight_decay=decay)


def shard_model(model: torch.nn.Module, info: DistInfo, precision: str) -> None:
    """FSDP2: each block's parameters (then the rest) are sharded across processes, gathered just in
    time for its forward and backward. bf16 gathers halve the traffic; gradients reduce in fp32."""
    try:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    except ImportError:  # torch < 2.6
        from torch.distributed._composable.fsdp import MixedPrecisionPolicy, fully_shard
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh(info.device.type, (info.world_size,))
    bf16 = precision == "bf16"
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else None
    kwargs = {"mesh": mesh, **({"mp_policy": mp} if mp else {})}
    blocks = model.blocks if isinstance(model, GPT) else [*model.encoder, *model.decoder]
    for block in blocks:
        fully_shard(block, **kwargs)
    fully_shard(model, **kwargs)


# ----------------------------------------------------------------------------------------------------
# Checkpoints


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write to a temporary file, flush it to disk, then rename over the old checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def gather_rng_states(info: DistInfo) -> list[dict[str, Any]]:
    """Every rank's RNG state (dropout masks differ per rank), so all of them resume exactly."""
    if not info.is_distributed:
        return [rng_state()]
    states: list[Any] = [None] * info.world_size
    dist.all_gather_object(states, rng_state())
    return states


# ----------------------------------------------------------------------------------------------------
# Reporting


class Reporter:
    """Where the numbers go: metrics.jsonl, TensorBoard, and a progress bar on a terminal (plain
    lines otherwise, as in cluster logs). Only rank 0 reports."""

    def __init__(self, out: Path, cfg: TrainConfig, start_step: int, enabled: bool):
        self.enabled, self.cfg = enabled, cfg
        self.metrics_path = out / "metrics.jsonl"
        self.bar = self.tb = None
        if not enabled:
            return
        # A resumed run continues the file; records past the checkpoint (from the killed run) go.
        kept = [r for r in read_metrics(self.metrics_path) if r.get("step", 0) <= start_step]
        tmp = out / "metrics.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        os.replace(tmp, self.metrics_path)
        self.file = open(self.metrics_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(log_dir=str(out / "tb"), purge_step=start_step + 1)
            except ImportError:
                print("note: tensorboard is not installed; skipping TensorBoard logs", file=sys.stderr)
        if cfg.progress and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=cfg.max_steps, initial=start_step, unit="step", dynamic_ncols=True)
            except ImportError:
                pass

    def print(self, message: str, error: bool = False) -> None:
        """Progress notes (only with cfg.progress) to stdout; errors and stop notices to stderr."""
        if self.enabled and (error or self.cfg.progress):
            file = sys.stderr if error else sys.stdout
            (self.bar.write if self.bar else print)(message, file=file)

    def advance(self) -> None:
        if self.bar:
            self.bar.update(1)

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.tb:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, record["step"])
        if "loss" in record:
            mfu = "n/a" if record["mfu"] is None else f"{100 * record['mfu']:.1f}%"
            speed = "n/a" if record["tokens_per_s"] is None else f"{record['tokens_per_s']:,.0f}"
            text = f"loss {record['loss']:.4f} | {speed} tok/s | mfu {mfu}"
            if self.bar:
                self.bar.set_postfix_str(text)
            elif self.cfg.progress:
                print(f"step {record['step']:>6} | {text} | lr {record['lr']:.2e}", flush=True)
        elif "val_loss" in record:
            self.print(
                f"step {record['step']:>6} | val loss {record['val_loss']:.4f} | "
                f"val perplexity {record['val_perplexity']:.2f}"
            )

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar:
            self.bar.close()
        if self.tb:
            self.tb.close()
        self.file.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_losses(metrics_path: Path, png_path: Path) -> bool:
    """Train and validation loss against step, from metrics.jsonl (the whole run, resumes included)."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    except ImportError:
        return False
    records = read_metrics(metrics_path)
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    fig = Figure(figsize=(7, 4), layout="tight")
    ax = fig.add_subplot()
    if train:
        ax.plot(*zip(*train, strict=True), label="train")
    if val:
        ax.plot(*zip(*val, strict=True), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss")
    ax.grid(alpha=0.3)
    ax.legend()
    tmp = png_path.with_name(png_path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, png_path)
    return True


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: list, info: DistInfo, precision: str) -> float:
    """Mean validation loss per target token, over every rank's share of the batches."""
    model.eval()
    total = torch.zeros(2, device=info.device)  # (summed loss, target count)
    for batch in bar(batches, desc="evaluate", unit="batch"):
        *inputs, targets = (t.to(info.device) for t in batch)
        with autocast(info.device, precision):
            _, loss = model(*inputs, targets, reduction="sum")
        total += torch.stack((loss.float(), (targets != IGNORE_INDEX).sum().float()))
    if info.is_distributed:
        dist.all_reduce(total)
    model.train()
    return (total[0] / total[1]).item()


# ----------------------------------------------------------------------------------------------------
# Signals


class StopRequest:
    """SIGTERM/SIGINT set a flag that the loop checks between steps: it then saves and exits.

    A second SIGINT (Ctrl-C twice) raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# ----------------------------------------------------------------------------------------------------
# The run


@dataclass
class RunResult:
    step: int
    exit_code: int  # 0: done; 1: non-finite loss; 128 + N: stopped by signal N (checkpoint saved)
    records: list[dict[str, Any]] = field(default_factory=list)  # what was logged in this run
    val_loss: float | None = None
    setup: dict[str, Any] = field(default_factory=dict)  # device, world size, precision, compile, size


def train(cfg: TrainConfig, out: str | Path, resume: bool = False, save: bool = True) -> RunResult:
    """Run training into ``out``. ``save=False`` (benchmarks) writes no checkpoint."""
    check_config(cfg)
    out = Path(out)
    ckpt_path = out / "ckpt.pt"
    if resume and not ckpt_path.exists():
        raise ConfigError(f"--resume: no checkpoint at {ckpt_path}; drop --resume to start a new run")
    if not resume and save and ckpt_path.exists():
        raise ConfigError(f"{ckpt_path} exists; pass --resume to continue that run, or choose another --out")
    info = init_distributed(cfg.device)
    try:
        return _train(cfg, out, resume, save, info)
    finally:
        teardown_distributed()


def _train(cfg: TrainConfig, out: Path, resume: bool, save: bool, info: DistInfo) -> RunResult:
    device = info.device
    out.mkdir(parents=True, exist_ok=True)
    precision = resolve_precision(cfg.precision, device)
    enable_tf32(device)
    seed_everything(cfg.seed)  # the same on every rank: identical initial weights

    # --- data, model, optimizer, LR schedule, loss scaler -------------------------------------------
    grad_accum = accumulation_steps(cfg, info.world_size)
    ckpt = load_checkpoint(out / "ckpt.pt") if resume else None
    if ckpt is not None:
        changed = [k for k in ARCH_KEYS if ckpt["config"].get(k) != getattr(cfg, k)]
        if changed:
            was = ", ".join(f"{k}={ckpt['config'].get(k)!r}" for k in changed)
            raise ConfigError(f"--resume: the checkpoint was trained with {was}; these cannot change")
    train_batches, val_batches, vocab_size = build_data(cfg, out, info)
    model = build_model(cfg, vocab_size).to(device)
    raw_model = model
    if cfg.fsdp:
        shard_model(model, info, precision)
    optimizer = make_optimizer(model, cfg, device)
    # The cosine ends where the first run said (decay_steps, else its max_steps); a resumed run with a
    # larger --max-steps continues that schedule exactly (flat at min_lr past its end) unless it sets
    # decay_steps itself.
    first_run = ckpt.get("decay_steps", ckpt["config"]["max_steps"]) if ckpt else None
    decay = cfg.decay_steps or first_run or cfg.max_steps
    schedule = partial(lr_factor, warmup=cfg.warmup_steps, decay=decay, min_ratio=cfg.min_lr / cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    scaler = grad_scaler(device, precision)

    # --- resume: every piece of state, so the run continues as if never stopped ---------------------
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

    full = StateDictOptions(full_state_dict=True, cpu_offload=True)  # plain tensors, any world size
    step = 0
    if ckpt is not None:
        set_state_dict(
            model, optimizer, model_state_dict=ckpt["model"], optim_state_dict=ckpt["optimizer"], options=full
        )
        scheduler.load_state_dict(ckpt["scheduler"])
        apply_hyperparameters(optimizer, scheduler, cfg)  # a resumed run may change lr, betas, ...
        scaler.load_state_dict(ckpt["scaler"])
        train_batches.load_state_dict(ckpt["data"])
        step = ckpt["step"]
        if len(ckpt["rng"]) == info.world_size:
            set_rng_state(ckpt["rng"][info.rank])
        else:  # a different number of processes: fresh per-rank streams
            seed_everything(cfg.seed + info.rank + step)
    else:
        seed_everything(cfg.seed + info.rank)  # different dropout masks on each rank

    # --- wrap: compile, then DDP (DDP's no_sync stays eager; dynamo splits graphs at DDP's buckets) --
    use_compile = cfg.compile if cfg.compile is not None else device.type == "cuda"
    if use_compile:
        model.compile(mode=cfg.compile_mode)  # in place: parameter and state_dict names stay the same
    ddp = info.is_distributed and not cfg.fsdp
    if ddp:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    reporter = Reporter(out, cfg, step, enabled=info.is_main)
    if info.is_main:
        write_config(cfg, out / "config.toml")
    if save:
        record_run(out, cfg, info, precision=precision, compile=use_compile, resumed_at=step)
    peak = peak_flops(device, precision)
    peak_text = "n/a" if peak is None else f"{peak / 1e12:.0f} TFLOPS"
    reporter.print(
        f"{cfg.model}: {raw_model.num_params() / 1e6:.2f}M parameters | {device} x{info.world_size}"
        f" | {precision} | compile {'on' if use_compile else 'off'} | peak {peak_text}"
        f" | {'resuming at' if resume else 'starting at'} step {step}/{cfg.max_steps}"
    )

    def save_state(at_step: int) -> None:
        model_sd, optim_sd = get_state_dict(model, optimizer, options=full)  # collective under FSDP
        rngs = gather_rng_states(info)
        if info.is_main:
            state = {
                "model": model_sd, "optimizer": optim_sd, "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "rng": rngs, "step": at_step, "decay_steps": decay,
                "data": train_batches.state_dict(), "config": config_to_dict(cfg), "vocab_size": vocab_size,
            }  # fmt: skip
            save_checkpoint(out / "ckpt.pt", state)

    # --- the loop -------------------------------------------------------------------------------
    setup = {
        "device": gpu_name(device), "world_size": info.world_size, "rank": info.rank, "precision": precision,
        "compile": use_compile, "params": raw_model.num_params(), "peak_flops": peak,
        "grad_accum": grad_accum,
    }  # fmt: skip
    result = RunResult(step=step, exit_code=0, setup=setup)
    flops_per_token = tokens_per_step = None
    nonfinite = torch.zeros((), dtype=torch.bool, device=device)  # set on device: no sync per step
    pending = None  # last step's (stop, non-finite) flags, summed over ranks: read one step later
    first_step = step + 1
    window_start, window_tokens, last_saved = time.perf_counter(), 0, step
    with StopRequest() as stop:
        while step < cfg.max_steps:
            # One optimizer step = grad_accum micro-batches. Loss is summed over target tokens and
            # divided by the whole step's target count (all micro-batches, all ranks): exactly the
            # mean over the big batch, even when micro-batches hold different numbers of tokens.
            micro = [next(train_batches) for _ in range(grad_accum)]
            n_targets = sum(int((mb[-1] != IGNORE_INDEX).sum()) for mb in micro)
            if info.is_distributed and cfg.model == "gpt":
                n_targets *= info.world_size  # every rank holds the same count: no collective
            elif info.is_distributed:
                count = torch.tensor(float(n_targets), device=device)
                dist.all_reduce(count)
                n_targets = count
            if tokens_per_step is None:
                lengths = [t.shape[1] for t in micro[0][:-1]]
                flops_per_token = raw_model.flops_per_token(*lengths)
                tokens_per_step = sum(t.numel() for t in micro[0][:-1]) * grad_accum * info.world_size

            step_loss = torch.zeros((), device=device)
            for i, batch in enumerate(micro):
                last = i == len(micro) - 1
                *inputs, targets = (to_device(t, device) for t in batch)
                if cfg.fsdp:
                    model.set_requires_gradient_sync(last)
                # DDP averages gradients over ranks; the world_size factor turns that into a sum.
                with model.no_sync() if ddp and not last else nullcontext(), autocast(device, precision):
                    _, loss = model(*inputs, targets, reduction="sum")
                loss = loss / n_targets * info.world_size
                scaler.scale(loss).backward()
                step_loss += loss.detach()

            # The gradient norm is checked at every step, clipping or not: an update from a non-finite
            # gradient would leave NaN weights in the next checkpoint while the loss still looked fine.
            scaler.unscale_(optimizer)
            max_norm = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")  # inf: measure, do not clip
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            if not scaler.is_enabled():  # with fp16 an inf gradient is normal: the scaler skips the step
                grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
                nonfinite |= ~torch.isfinite(grad_norm)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            lr = optimizer.param_groups[0]["lr"]  # the rate this step used
            scheduler.step()
            step += 1
            window_tokens += tokens_per_step
            nonfinite |= ~torch.isfinite(step_loss)
            reporter.advance()

            # --- every step: stop requests and non-finite values, agreed by all ranks -------------------
            # The flags of step k are summed over ranks (asynchronously) and read after step k + 1 has
            # been queued, so the wait costs the GPU nothing; every rank reads the same sum, so all
            # stop at the same step, well within a scheduler's grace period after SIGTERM.
            alarm = False
            if pending is not None:
                work, flags_then = pending
                if work is not None:
                    work.wait()
                alarm = bool(flags_then.sum().item())  # a host sync with last step, not this one
            flags_now = torch.stack(
                (torch.full((), float(stop.signum is not None), device=device), nonfinite.float())
            )
            work = dist.all_reduce(flags_now, async_op=True) if info.is_distributed else None
            pending = (work, flags_now)
            if not info.is_distributed:
                alarm = alarm or stop.signum is not None  # alone: react to a signal after this step

            # --- sync points: logging, eval, checkpoints, stop requests -----------------------------------
            last_step = step == cfg.max_steps
            eval_now = val_batches and (last_step or (cfg.eval_interval and step % cfg.eval_interval == 0))
            ckpt_now = save and (
                last_step or (cfg.checkpoint_interval and step % cfg.checkpoint_interval == 0)
            )
            if not (step % cfg.log_interval == 0 or last_step or eval_now or ckpt_now or alarm):
                if step == first_step:  # torch.compile, autotuning, allocator growth: not throughput
                    synchronize(device)
                    window_start, window_tokens = time.perf_counter(), 0
                continue
            stop_flag = torch.tensor(float(stop.signum is not None), device=device)
            flags = torch.stack((step_loss.float(), nonfinite.float(), stop_flag))
            if info.is_distributed:
                dist.all_reduce(flags)  # sums over ranks
            loss_sum, any_nonfinite, any_stop = flags.tolist()
            loss_value = loss_sum / info.world_size
            if any_nonfinite or not math.isfinite(loss_value):
                reporter.print(
                    f"error: the loss became {loss_value} (not finite) by step {step}; stopping. The last "
                    f"good checkpoint is kept: {out / 'ckpt.pt'} (step {last_saved}). Lower lr, raise "
                    f"warmup_steps, or use precision=bf16/fp32.",
                    error=True,
                )
                result.exit_code = 1
                break
            elapsed = time.perf_counter() - window_start
            tokens_per_s = window_tokens / elapsed if window_tokens else None
            mfu = flops_per_token * tokens_per_s / (peak * info.world_size) if peak and tokens_per_s else None
            record = {"step": step, "loss": loss_value, "lr": lr, "tokens_per_s": tokens_per_s, "mfu": mfu}
            reporter.log(record)
            result.records.append(record)

            if eval_now:
                result.val_loss = evaluate(model, val_batches, info, precision)
                val = {
                    "step": step,
                    "val_loss": result.val_loss,
                    "val_perplexity": math.exp(min(result.val_loss, 50)),
                }
                reporter.log(val)
                result.records.append(val)
            if ckpt_now or any_stop:
                save_state(step)
                last_saved = step
            if any_stop:
                signum = stop.signum or signal.SIGTERM  # on ranks that did not get it themselves
                reporter.print(
                    f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint saved. "
                    f"Continue with: --out {out} --resume",
                    error=True,
                )
                result.exit_code = 128 + signum
                break
            window_start, window_tokens = time.perf_counter(), 0  # eval and saving are not throughput

    # --- end of the run ---------------------------------------------------------------------------
    if pending is not None and pending[0] is not None:
        pending[0].wait()  # no collective left in flight when the process group goes
    result.step = step
    reporter.close()
    if info.is_main and save:
        plot_losses(out / "metrics.jsonl", out / "loss.png")
    if result.exit_code == 0 and step >= cfg.max_steps:
        reporter.print(f"done: step {step}, checkpoint {out / 'ckpt.pt'}" if save else f"done: step {step}")
    return result


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":  # pinned memory lets the copy overlap with the GPU's work
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def write_config(cfg: TrainConfig, path: Path) -> None:
    """A flat TOML file that load_config reads back (None values are left out: they are defaults)."""
    lines = []
    for key, value in config_to_dict(cfg).items():
        if value is None:
            continue
        text = json.dumps(value) if isinstance(value, (str, bool)) else repr(value)
        lines.append(f"{key} = {text}")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_trained(
    out: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, Any, TrainConfig]:
    """(model in eval mode, tokenizer or None, config) from a training run's OUT directory."""
    out = Path(out)
    ckpt = load_checkpoint(out / "ckpt.pt")
    cfg = TrainConfig(**ckpt["config"])
    model = build_model(cfg, ckpt["vocab_size"])
    model.load_state_dict(ckpt["model"])
    tokenizer = load_tokenizer(out / "tokenizer.json") if (out / "tokenizer.json").exists() else None
    return model.to(device).eval(), tokenizer, cfg


# ----------------------------------------------------------------------------------------------------
# Command line


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    fields = dataclasses.fields(TrainConfig)
    width = max(len(f.name) for f in fields)
    defaults = "\n".join(f"  --{f.name:<{width}} = {f.default!r}" for f in fields)
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=f"Any config value can be overridden as --key=value. Keys and defaults:\n{defaults}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )


def resolve_config(config: Path | None, out: Path, resume: bool, overrides: list[str]) -> TrainConfig:
    """Defaults, then the TOML file (on --resume without --config: OUT/config.toml), then --key=value."""
    if config is None and resume and (out / "config.toml").exists():
        config = out / "config.toml"
    cfg = load_config(TrainConfig, config, overrides)
    check_config(cfg)
    return cfg


def main(argv: list[str] | None = None) -> int:
    package = __name__.rpartition(".")[0]
    parser = build_parser(
        f"python -m {package} train", "Train a GPT or an encoder-decoder Transformer from scratch."
    )
    parser.add_argument("--config", type=Path, help="TOML config, e.g. configs/gpt-tiny.toml")
    parser.add_argument("--out", type=Path, required=True, help="run directory: checkpoints, metrics, plots")
    parser.add_argument("--max-steps", type=int, help="optimizer steps to train for (same as --max_steps=N)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt at its exact step")
    args, overrides = parser.parse_known_args(argv)
    if args.max_steps is not None:
        overrides.append(f"--max_steps={args.max_steps}")
    try:
        cfg = resolve_config(args.config, args.out, args.resume, overrides)
        result = train(cfg, args.out, resume=args.resume)
    except ConfigError as exc:
        fail(str(exc))
    return result.exit_code
