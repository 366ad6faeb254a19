"""The training engine for Hugging Face models (pre-training and fine-tuning): a plain PyTorch loop.

Chosen by measurement against the HF Trainer and accelerate (README, "Fine-tuning engine"): at the
same model, data, batch size and step count it was the fastest at equal accuracy, and it keeps the
hot path visible. What makes it fast is the data path (length-grouped batches, ids tokenised once,
padding per batch) and precision (bf16 autocast on GPUs), not the loop itself.

Runs alone, or as one of several processes under ``torchrun`` / ``accelerate launch`` (both set
RANK/WORLD_SIZE/LOCAL_RANK): the model is wrapped in DistributedDataParallel, each rank trains on its
shard of the batches, and rank 0 evaluates, saves and tells the others whether to stop early.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import ConfigError, config_to_dict
from .device import (
    DistInfo,
    autocast,
    enable_tf32,
    grad_scaler,
    init_distributed,
    resolve_precision,
    seed_everything,
    synchronize,
    teardown_distributed,
)
from .provenance import record_run
from .train import lr_factor, make_optimizer, plot_losses

Batch = dict[str, torch.Tensor]


@dataclass
class LoopSettings:
    max_steps: int
    lr: float = 1e-4
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    warmup_ratio: float = 0.06
    grad_clip: float = 1.0
    precision: str = "fp32"  # already resolved: bf16 | fp16 | fp32
    log_every: int = 10
    eval_every: int = 0  # 0: evaluate only at the end
    patience: int = 0  # evaluations without improvement before stopping; 0: never stop early
    metric: str = "loss"
    greater_is_better: bool = False


class MetricsLog:
    """OUT/metrics.jsonl: one JSON object per logged step and per evaluation (``val_*`` keys), plus a
    short line on stdout for each. Rank 0 only; other ranks get ``MetricsLog(None)``."""

    def __init__(self, path: Path | None, echo: bool = True):
        self.path, self.echo = path, echo and path is not None
        self.records: list[dict[str, Any]] = []
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self.path is None:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.echo:
            shown = " | ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                for k, v in record.items()
                if k not in ("epoch", "tokens_per_s")
            )
            print(shown, file=sys.stdout, flush=True)


def to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _broadcast_flag(flag: bool, dist: DistInfo) -> bool:
    if not dist.is_distributed:
        return flag
    import torch.distributed as tdist

    tensor = torch.tensor([int(flag)], device=dist.device if dist.device.type == "cuda" else "cpu")
    tdist.broadcast(tensor, src=0)
    return bool(tensor.item())


def fit(
    model: torch.nn.Module,
    batches: Callable[[int], Iterable[Batch]],
    settings: LoopSettings,
    dist: DistInfo,
    log: MetricsLog,
    *,
    evaluate: Callable[[], dict[str, float]] | None = None,
    save_best: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` for ``settings.max_steps`` steps over ``batches(epoch)``; returns a summary.

    ``evaluate`` and ``save_best`` run on rank 0 only; ``save_best`` is called whenever the eval
    metric improves, so the best model is on disk even if the run is cut short later."""
    device = dist.device
    model.to(device)
    optimizer = make_optimizer(model, settings, device)  # AdamW, no decay on biases/norms, fused kernel
    warmup = int(settings.warmup_ratio * settings.max_steps)
    # Linear warm-up, then a cosine down to zero at the last step.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, warmup, settings.max_steps, 0.0)
    )
    scaler = grad_scaler(device, settings.precision)
    train_model: torch.nn.Module = model
    if dist.is_distributed:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    best: dict[str, Any] = {"step": 0, "metrics": None}
    bad_evals, stopped_early, step, epoch = 0, False, 0, 0
    samples = tokens = 0
    train_seconds = cpu_seconds = 0.0  # wall clock; CPU time of this process (steadier on shared hosts)
    window_loss = torch.zeros((), device=device)
    window_steps = 0
    batch_iter = iter(batches(epoch))
    model.train()
    synchronize(device)
    started, cpu_started = time.perf_counter(), time.process_time()
    while step < settings.max_steps:
        batch = next(batch_iter, None)
        if batch is None:
            epoch += 1
            batch_iter = iter(batches(epoch))
            batch = next(batch_iter, None)
            if batch is None:
                raise ValueError("the training data yields no batches")
        samples += int(batch["input_ids"].shape[0])
        tokens += (
            int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
        )
        batch = to_device(batch, device)
        with autocast(device, settings.precision):
            loss = train_model(**batch).loss
        scaler.scale(loss).backward()
        if settings.grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        step += 1
        window_loss += loss.detach().float()
        window_steps += 1

        last = step == settings.max_steps
        if step % settings.log_every == 0 or last:
            synchronize(device)
            now = time.perf_counter()
            elapsed = train_seconds + (now - started)
            if dist.is_main:
                log.write(
                    {
                        "step": step,
                        "epoch": epoch,
                        "loss": round(window_loss.item() / window_steps, 5),
                        "lr": scheduler.get_last_lr()[0],
                        "samples_per_s": round(samples * dist.world_size / elapsed, 2),
                        "tokens_per_s": round(tokens * dist.world_size / elapsed, 1),
                    }
                )
            window_loss.zero_()
            window_steps = 0

        if evaluate is not None and ((settings.eval_every and step % settings.eval_every == 0) or last):
            synchronize(device)
            train_seconds += time.perf_counter() - started
            cpu_seconds += time.process_time() - cpu_started
            stop = False
            if dist.is_main:
                model.eval()
                metrics = evaluate()
                model.train()
                log.write({"step": step, **{f"val_{k}": v for k, v in metrics.items()}})
                value = metrics[settings.metric]
                previous = None if best["metrics"] is None else best["metrics"][settings.metric]
                improved = previous is None or (
                    value > previous if settings.greater_is_better else value < previous
                )
                if improved:
                    best = {"step": step, "metrics": metrics}
                    bad_evals = 0
                    if save_best is not None:
                        save_best(step, metrics)
                else:
                    bad_evals += 1
                    stop = settings.patience > 0 and bad_evals >= settings.patience
            stopped_early = _broadcast_flag(stop, dist) and not last
            synchronize(device)
            started, cpu_started = time.perf_counter(), time.process_time()
            if stopped_early:
                break
    synchronize(device)
    train_seconds += time.perf_counter() - started
    cpu_seconds += time.process_time() - cpu_started
    return {
        "steps": step,
        "epochs": epoch + 1,
        "stopped_early": stopped_early,
        "best_step": best["step"],
        "best": best["metrics"],
        "train_seconds": round(train_seconds, 3),
        "train_cpu_seconds": round(cpu_seconds, 3),
        "train_samples_per_s": round(samples * dist.world_size / max(train_seconds, 1e-9), 2),
        "train_tokens_per_s": round(tokens * dist.world_size / max(train_seconds, 1e-9), 1),
    }


@contextlib.contextmanager
def job(device: str, precision: str, seed: int) -> Iterator[tuple[DistInfo, str]]:
    """This process's place in the job (alone, or a rank under torchrun / accelerate launch) and its
    resolved precision, seeded; the process group is torn down afterwards, on errors too."""
    try:
        dist = init_distributed(device)
        resolved = resolve_precision(precision, dist.device)
    except ValueError as exc:  # no such device, or no bf16 on this GPU
        raise ConfigError(str(exc)) from None
    try:
        seed_everything(seed)
        enable_tf32(dist.device)
        yield dist, resolved
    finally:
        teardown_distributed()


def save_model(model: Any, tokenizer: Any, dest: Path) -> None:
    """save_pretrained into a temporary folder, then swap it in: a crash never leaves half a model."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the model folder should not be
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    old = dest.with_name(f".{dest.name}-old")
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def train_and_save(
    model: torch.nn.Module,
    tokenizer: Any,
    batches: Callable[[int], Iterable[Batch]],
    settings: LoopSettings,
    dist: DistInfo,
    out: Path,
    *,
    cfg: Any,
    evaluate: Callable[[], dict[str, float]],
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train and write the run folder every job writes: OUT/config.json, OUT/metrics.jsonl, the best
    model in OUT/model (save_pretrained: weights, config, tokenizer), OUT/eval.json and OUT/loss.png.

    Returns what eval.json holds (on rank 0; ``{}`` on the other ranks)."""
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=2) + "\n")
    record_run(out, cfg, dist, precision=settings.precision)
    log = MetricsLog(out / "metrics.jsonl" if dist.is_main else None)
    summary = fit(
        model,
        batches,
        settings,
        dist,
        log,
        evaluate=evaluate,
        save_best=lambda step, metrics: save_model(model, tokenizer, out / "model"),
    )
    if not dist.is_main:
        return {}
    result = {
        **(summary["best"] or {}),
        "best_step": summary["best_step"],
        "steps": summary["steps"],
        "stopped_early": summary["stopped_early"],
        **(details or {}),
        "train_samples_per_s": summary["train_samples_per_s"],
        "train_tokens_per_s": summary["train_tokens_per_s"],
        "train_seconds": summary["train_seconds"],
        "train_cpu_seconds": summary["train_cpu_seconds"],
        "precision": settings.precision,
        "device": str(dist.device),
        "world_size": dist.world_size,
    }
    (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_losses(out / "metrics.jsonl", out / "loss.png")
    return result
