"""The training engine for Hugging Face models (pre-training and fine-tuning): a plain PyTorch loop.

Chosen by measurement against the HF Trainer and accelerate (README, "Fine-tuning engine"): at the
same model, data, batch size and step count it was the fastest at equal accuracy, and it keeps the
hot path visible. What makes it fast is the data path (length-grouped batches, ids tokenised once,
padding per batch) and precision (bf16 autocast on GPUs), not the loop itself.

On par with the from-scratch loop in train.py:
- gradient accumulation: one optimizer step is ``grad_accum`` micro-batches, each weighted by its
  number of targets (examples, or masked tokens for MLM) over the whole step's count on all ranks,
  so accumulating equals one big batch;
- OUT/ckpt.pt (model, optimizer, scheduler, scaler, every rank's RNG, step, data position, best
  metrics), replaced atomically at each evaluation, every ``checkpoint_every`` steps and on SIGTERM
  or SIGINT (exit 128 + signal); ``--resume`` continues at that exact step with the batches, masks
  and dropout a straight run would have seen. It is removed when the run finishes;
- a non-finite loss (or gradient norm) stops the run with exit code 1 and keeps the last checkpoint;
- optional ``torch.compile``.

Runs alone, or as one of several processes under ``torchrun`` / ``accelerate launch`` (both set
RANK/WORLD_SIZE/LOCAL_RANK): the model is wrapped in DistributedDataParallel and each rank trains on
its shard of the batches, with its own seed (``seed + rank``: its own dropout and MLM masks). Every
rank evaluates its shard of the held-out data and the sums are all-reduced, so all ranks reach the
same decisions and none idles in a collective while rank 0 works. Small host-side agreements (the
step's target count, stop requests) and the wait while rank 0 saves go through a gloo group on the
CPU, never an NCCL collective, so a slow save cannot trip the NCCL watchdog.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
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
    rng_state,
    seed_everything,
    set_rng_state,
    synchronize,
    teardown_distributed,
)
from .provenance import record_run
from .train import StopRequest, load_checkpoint, lr_factor, make_optimizer, plot_losses, save_checkpoint

Batch = dict[str, torch.Tensor]
# (epoch, micro-batches to skip) -> this rank's micro-batches of that epoch, from that position on
Batches = Callable[[int, int], Iterable[Batch]]
# Config keys a resumed run may change; any other change would break "continue exactly".
MUTABLE_ON_RESUME = ("device", "log_every", "eval_batch_size", "compile", "checkpoint_every")


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
    grad_accum: int = 1  # micro-batches per optimizer step
    seed: int = 0  # rank r trains with seed + r
    compile: bool = False  # torch.compile the model
    checkpoint_every: int = 0  # steps; 0: at each evaluation only (and on SIGTERM/SIGINT)


class MetricsLog:
    """OUT/metrics.jsonl: one JSON object per logged step and per evaluation (``val_*`` keys), plus a
    short line on stdout for each. Rank 0 only; other ranks get ``MetricsLog(None)``."""

    def __init__(self, path: Path | None, echo: bool = True, append: bool = False):
        self.path, self.echo = path, echo and path is not None
        self.records: list[dict[str, Any]] = []
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not (append and path.exists()):
                path.write_text("")

    def keep_until(self, step: int) -> None:
        """A resumed run: keep the records up to its checkpoint's step, drop those of the lost steps."""
        if self.path is None or not self.path.exists():
            return
        old = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        self.records = [r for r in old if r.get("step", 0) <= step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.records))

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


def all_sum(values: torch.Tensor, dist: DistInfo) -> torch.Tensor:
    """``values`` summed over all ranks (every rank gets the total); unchanged when alone."""
    if not dist.is_distributed:
        return values
    import torch.distributed as tdist

    device = dist.device if dist.device.type == "cuda" else torch.device("cpu")
    total = values.to(device)
    tdist.all_reduce(total)
    return total.to(values.device)


def my_share(n: int, dist: DistInfo) -> list[int]:
    """This rank's indices of ``n`` held-out items for a sharded evaluation (every item on one rank)."""
    return list(range(dist.rank, n, dist.world_size))


class Control:
    """Host-side agreement between ranks over a gloo group: sums of a few numbers and barriers, on the
    CPU, with no GPU sync and no NCCL collective (whose watchdog would kill a rank kept waiting)."""

    def __init__(self, dist: DistInfo):
        self.dist, self.group = dist, None
        if dist.is_distributed:
            import torch.distributed as tdist

            self.group = tdist.new_group(backend="gloo") if tdist.get_backend() != "gloo" else None

    def sum(self, *values: float) -> list[float]:
        if not self.dist.is_distributed:
            return list(values)
        import torch.distributed as tdist

        tensor = torch.tensor(values, dtype=torch.float64)
        tdist.all_reduce(tensor, group=self.group)
        return tensor.tolist()

    def gather(self, obj: Any) -> list[Any]:
        if not self.dist.is_distributed:
            return [obj]
        import torch.distributed as tdist

        out: list[Any] = [None] * self.dist.world_size
        tdist.all_gather_object(out, obj, group=self.group)
        return out

    def barrier(self) -> None:
        if self.dist.is_distributed:
            import torch.distributed as tdist

            tdist.barrier(group=self.group)


def _zero_loss(output: Any) -> torch.Tensor:
    """0, connected to every output the model computed: a micro-batch with nothing to learn from still
    takes part in DDP's gradient reduction (an undefined mean loss would make the gradients NaN)."""
    return sum(v.float().sum() for k, v in output.items() if k != "loss" and torch.is_tensor(v)) * 0.0


def target_count(batch: Batch) -> int:
    """What a micro-batch's mean loss is a mean over: masked tokens for MLM (labels with -100 for the
    rest), else one per example."""
    labels = batch.get("labels")
    if labels is None:
        return int(batch["input_ids"].shape[0])
    return int((labels != -100).sum()) if labels.dim() > 1 else int(labels.shape[0])


def fit(
    model: torch.nn.Module,
    batches: Batches,
    settings: LoopSettings,
    dist: DistInfo,
    log: MetricsLog,
    *,
    evaluate: Callable[[], dict[str, float]] | None = None,
    save_best: Callable[[int, dict[str, float]], None] | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    config: dict[str, Any] | None = None,
    evaluate_at_start: bool = False,
) -> dict[str, Any]:
    """Train ``model`` for ``settings.max_steps`` optimizer steps over ``batches(epoch, skip)``.

    ``evaluate`` runs on every rank (each on its shard, sums all-reduced) and must return the same
    metrics everywhere; ``save_best`` runs on rank 0 whenever the eval metric improves, so the best
    model is on disk even if the run is cut short later. With ``checkpoint`` (a path), the run is
    saved there and ``resume`` continues from it; ``config`` is checked against the saved one.
    Returns a summary; ``exit_code`` is 0, 1 (non-finite loss) or 128 + signal (stopped, saved)."""
    device = dist.device
    model.to(device)
    optimizer = make_optimizer(model, settings, device)  # AdamW, no decay on biases/norms, fused kernel
    warmup = int(settings.warmup_ratio * settings.max_steps)
    # Linear warm-up, then a cosine down to zero at the last step.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, warmup, settings.max_steps, 0.0)
    )
    scaler = grad_scaler(device, settings.precision)
    control = Control(dist)

    state: dict[str, Any] = {"step": 0, "epoch": 0, "pos": 0, "best": {"step": 0, "metrics": None},
                             "bad_evals": 0, "samples": 0, "tokens": 0, "train_seconds": 0.0,
                             "cpu_seconds": 0.0, "initial": None}  # fmt: skip
    if resume:
        assert checkpoint is not None
        saved = load_checkpoint(checkpoint)
        config = config or {}
        changed = [k for k in config if k not in MUTABLE_ON_RESUME and saved["config"].get(k) != config[k]]
        if changed:
            was = ", ".join(f"{k}={saved['config'].get(k)!r}" for k in changed)
            raise ConfigError(f"--resume: the checkpoint was made with {was}; these cannot change")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        state.update(saved["loop"])
        log.keep_until(state["step"])
        if len(saved["rng"]) == dist.world_size:
            set_rng_state(saved["rng"][dist.rank])
        else:  # another number of processes: fresh per-rank streams
            seed_everything(settings.seed + dist.rank + state["step"])
    else:
        seed_everything(settings.seed + dist.rank)  # each rank its own dropout and MLM masks

    if settings.compile:
        model.compile()  # in place: parameter and state_dict names stay the same
    train_model: torch.nn.Module = model
    if dist.is_distributed:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    def save_state() -> None:
        rngs = control.gather(rng_state())
        if dist.is_main and checkpoint is not None:
            save_checkpoint(checkpoint, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rngs,
                "loop": {k: v for k, v in state.items()}, "config": config or {},
            })  # fmt: skip
        control.barrier()  # the others wait on the CPU (gloo) while rank 0 writes

    def run_evaluation() -> dict[str, float]:
        assert evaluate is not None
        model.eval()
        metrics = evaluate()
        model.train()
        return metrics

    if evaluate is not None and evaluate_at_start and not resume:
        state["initial"] = run_evaluation()  # the untrained model's metrics (kept in checkpoints)

    step, epoch, pos = state["step"], state["epoch"], state["pos"]
    batch_iter = iter(batches(epoch, pos))

    def next_batch() -> Batch:
        nonlocal batch_iter, epoch, pos
        batch = next(batch_iter, None)
        if batch is None:
            epoch, pos = epoch + 1, 0
            batch_iter = iter(batches(epoch, 0))
            batch = next(batch_iter, None)
            if batch is None:
                raise ValueError("the training data yields no batches")
        pos += 1
        return batch

    exit_code, stopped_early = 0, False
    window_loss = torch.zeros((), device=device)
    nonfinite = torch.zeros((), dtype=torch.bool, device=device)  # set on device: no sync per step
    window_steps = 0
    model.train()
    clock: dict[str, float] = {}

    def start_clock() -> None:
        synchronize(device)
        clock.update(wall=time.perf_counter(), cpu=time.process_time())

    def pause_clock() -> None:  # evaluation and saving are not training time
        if clock:
            synchronize(device)
            state["train_seconds"] += time.perf_counter() - clock.pop("wall")
            state["cpu_seconds"] += time.process_time() - clock.pop("cpu")

    start_clock()

    with StopRequest() as stop:
        while step < settings.max_steps:
            micro = [next_batch() for _ in range(settings.grad_accum)]
            counts = [target_count(b) for b in micro]
            # Each micro-batch's mean loss times its target count, over the whole step's count on all
            # ranks; DDP averages gradients over ranks, the world_size factor turns that into a sum.
            (total,) = control.sum(float(sum(counts)))
            step_loss = torch.zeros((), device=device)
            for i, (batch, count) in enumerate(zip(micro, counts, strict=True)):
                state["samples"] += int(batch["input_ids"].shape[0])
                mask = batch.get("attention_mask")
                state["tokens"] += int(mask.sum()) if mask is not None else batch["input_ids"].numel()
                final = i == len(micro) - 1
                accumulate = dist.is_distributed and not final  # DDP reduces gradients on the last one only
                with train_model.no_sync() if accumulate else contextlib.nullcontext():
                    with autocast(device, settings.precision):
                        output = train_model(**to_device(batch, device))
                    # A micro-batch without targets (no masked token) adds 0, keeping the graph for DDP.
                    loss = output.loss * count if count else _zero_loss(output)
                    scaler.scale(loss * dist.world_size / max(total, 1.0)).backward()
                step_loss += loss.detach().float() / max(sum(counts), 1)
            if settings.grad_clip > 0:
                scaler.unscale_(optimizer)
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                if not scaler.is_enabled():  # with fp16 an inf gradient is normal: the scaler skips the step
                    nonfinite |= ~torch.isfinite(grad_norm)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            step += 1
            state.update(step=step, epoch=epoch, pos=pos)
            window_loss += step_loss
            nonfinite |= ~torch.isfinite(step_loss)
            window_steps += 1

            last = step == settings.max_steps
            if step % settings.log_every == 0 or last:
                (bad,) = control.sum(float(nonfinite.item()))
                elapsed = state["train_seconds"] + (time.perf_counter() - clock["wall"])
                loss_value = window_loss.item() / window_steps
                if bad or not math.isfinite(loss_value):
                    if dist.is_main:
                        print(f"error: the loss became {loss_value} (not finite) by step {step}; stopping. "
                              f"The last good checkpoint is kept ({checkpoint}). Lower lr, raise "
                              "warmup_ratio, or use precision=bf16/fp32.", file=sys.stderr)  # fmt: skip
                    exit_code = 1
                    break
                if dist.is_main:
                    per_s = dist.world_size / elapsed
                    log.write({"step": step, "epoch": epoch, "loss": round(loss_value, 5),
                               "lr": scheduler.get_last_lr()[0],
                               "samples_per_s": round(state["samples"] * per_s, 2),
                               "tokens_per_s": round(state["tokens"] * per_s, 1)})  # fmt: skip
                window_loss.zero_()
                window_steps = 0

            evaluated = False
            if evaluate is not None and ((settings.eval_every and step % settings.eval_every == 0) or last):
                pause_clock()
                evaluated = True
                metrics = run_evaluation()  # every rank, on its shard; the metrics are the same everywhere
                log.write({"step": step, **{f"val_{k}": v for k, v in metrics.items()}})
                value = metrics[settings.metric]
                previous = state["best"]["metrics"]
                improved = previous is None or (
                    value > previous[settings.metric] if settings.greater_is_better
                    else value < previous[settings.metric]
                )  # fmt: skip
                if improved:
                    state["best"] = {"step": step, "metrics": metrics}
                    state["bad_evals"] = 0
                    if save_best is not None and dist.is_main:
                        save_best(step, metrics)
                else:
                    state["bad_evals"] += 1
                    patience = settings.patience
                    stopped_early = patience > 0 and state["bad_evals"] >= patience and not last

            # Stop requests are agreed on after every step (a host-side sum over gloo: no GPU sync).
            (stopping,) = control.sum(float(stop.signum is not None))
            every = settings.checkpoint_every
            if checkpoint is not None and not last and not stopped_early and (
                stopping or evaluated or (every and step % every == 0)
            ):
                pause_clock()
                save_state()
            if not clock:
                start_clock()
            if stopped_early:
                break
            if stopping:
                signum = stop.signum or signal.SIGTERM  # ranks that did not get it themselves
                if dist.is_main:
                    print(f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint saved. "
                          "Continue with the same command and --resume", file=sys.stderr)  # fmt: skip
                exit_code = 128 + signum
                break
    pause_clock()
    if exit_code == 0 and checkpoint is not None and dist.is_main and checkpoint.exists():
        checkpoint.unlink()  # finished: the best model is in OUT/model
    seconds = max(state["train_seconds"], 1e-9)
    return {
        "exit_code": exit_code,
        "steps": step,
        "epochs": epoch + 1,
        "stopped_early": stopped_early,
        "best_step": state["best"]["step"],
        "best": state["best"]["metrics"],
        "initial": state["initial"],
        "train_seconds": round(state["train_seconds"], 3),
        "train_cpu_seconds": round(state["cpu_seconds"], 3),
        "train_samples_per_s": round(state["samples"] * dist.world_size / seconds, 2),
        "train_tokens_per_s": round(state["tokens"] * dist.world_size / seconds, 1),
    }


@contextlib.contextmanager
def job(device: str, precision: str, seed: int) -> Iterator[tuple[DistInfo, str]]:
    """This process's place in the job (alone, or a rank under torchrun / accelerate launch) and its
    resolved precision, seeded with ``seed`` on every rank (identical initial weights; ``fit`` then
    gives each rank its own stream); the process group is torn down afterwards, on errors too."""
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


def check_resume(out: Path, resume: bool) -> None:
    """Refuse to start over a run that can be resumed, or to resume one that cannot."""
    ckpt = out / "ckpt.pt"
    if resume and not ckpt.exists():
        finished = " (the run finished: see eval.json)" if (out / "eval.json").exists() else ""
        raise ConfigError(f"--resume: no checkpoint at {ckpt}{finished}; drop --resume to start a new run")
    if not resume and ckpt.exists():
        raise ConfigError(f"{ckpt} exists; pass --resume to continue that run, or choose another --out")


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
    batches: Batches,
    settings: LoopSettings,
    dist: DistInfo,
    out: Path,
    *,
    cfg: Any,
    evaluate: Callable[[], dict[str, float]],
    details: dict[str, Any] | None = None,
    resume: bool = False,
    evaluate_at_start: bool = False,
) -> dict[str, Any]:
    """Train and write the run folder every job writes: OUT/config.json, OUT/run.json,
    OUT/metrics.jsonl, OUT/ckpt.pt while the run is unfinished, the best model in OUT/model
    (save_pretrained: weights, config, tokenizer), OUT/eval.json and OUT/loss.png.

    Returns what eval.json holds on rank 0 (``{"exit_code": ...}`` alone on the other ranks, and on
    rank 0 when the run stopped before its end); with ``evaluate_at_start`` it holds ``initial_*``, the
    metrics before training."""
    ckpt = out / "ckpt.pt"
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=2) + "\n")
    record_run(out, cfg, dist, precision=settings.precision, compile=settings.compile, resumed=resume)
    log = MetricsLog(out / "metrics.jsonl" if dist.is_main else None, append=resume)
    summary = fit(
        model,
        batches,
        settings,
        dist,
        log,
        evaluate=evaluate,
        save_best=lambda step, metrics: save_model(model, tokenizer, out / "model"),
        checkpoint=ckpt,
        resume=resume,
        config=config_to_dict(cfg),
        evaluate_at_start=evaluate_at_start,
    )
    if not dist.is_main or summary["exit_code"] != 0:
        return {"exit_code": summary["exit_code"]}
    result = {
        **(summary["best"] or {}),
        "best_step": summary["best_step"],
        "steps": summary["steps"],
        "stopped_early": summary["stopped_early"],
        **{f"initial_{k}": v for k, v in (summary["initial"] or {}).items()},  # the untrained model's
        **(details or {}),
        "train_samples_per_s": summary["train_samples_per_s"],
        "train_tokens_per_s": summary["train_tokens_per_s"],
        "train_seconds": summary["train_seconds"],
        "train_cpu_seconds": summary["train_cpu_seconds"],
        "precision": settings.precision,
        "compile": settings.compile,
        "device": str(dist.device),
        "world_size": dist.world_size,
    }
    (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_losses(out / "metrics.jsonl", out / "loss.png")
    return {**result, "exit_code": 0}
