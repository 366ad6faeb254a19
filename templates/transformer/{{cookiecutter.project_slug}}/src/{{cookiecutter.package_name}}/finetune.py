"""Fine-tune a pretrained encoder for sequence classification (sentiment by default).

    python -m PACKAGE finetune --config configs/finetune-demo.toml --out runs/sentiment
    python -m PACKAGE finetune --out runs/sentiment --resume        # after SIGTERM, Ctrl-C or a crash
    torchrun --nproc_per_node=8 -m PACKAGE finetune --config configs/finetune-demo.toml --out runs/s
    accelerate launch --multi_gpu --num_processes 8 -m PACKAGE finetune --config CONFIG --out runs/s

Data: any CSV/TSV/JSONL/JSON file, a file inside a package (pkg:...), or a datasets name, with a
text and a label column; the label set, num_labels and the label maps are inferred from it.
``pooling``: ``cls`` is the architecture's own classifier ([CLS] + pooler for BERT); ``mean`` averages
the token states, as sentence encoders such as all-MiniLM-L6-v2 were trained to.
Writes OUT/metrics.jsonl, OUT/eval.json (accuracy, f1, ...), OUT/model/ (the best model by the eval
metric, its tokenizer, id2label/label2id in config.json), OUT/run.json, OUT/loss.png, and OUT/ckpt.pt
while the run is unfinished (engine.py: gradient accumulation, checkpoints, exact resume).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cmdline import run_job
from .config import ConfigError
from .textdata import LabelMap, load_labelled, split_eval

ENGINE = "plain PyTorch loop (engine.py)"


@dataclass
class FinetuneConfig:
    model: str = ""  # local folder, pkg:PACKAGE (offline), or hub name (online)
    tokenizer: str = ""  # default: the model's own
    data: str = ""  # file, pkg:PACKAGE/file, synthetic:sentiment, or a datasets name
    data_filter: dict[str, str] = field(default_factory=dict)  # keep rows whose columns equal these
    data_split: str = "train"  # for datasets names
    eval_data: str = ""  # default: hold out eval_size rows of data
    eval_split: str = "test"
    eval_size: float = 0.1  # < 1: a fraction; >= 1: a row count
    text_column: str = "text"
    label_column: str = "label"
    label_names: list[str] = field(default_factory=list)  # one per label, in sorted label order
    max_length: int = 128
    pooling: str = "cls"  # cls: the architecture's classifier ([CLS] + pooler) | mean: mean of token states
    batch_size: int = 16  # per process and micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step: batch_size x grad_accum x processes examples
    eval_batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    grad_clip: float = 1.0
    max_steps: int = 0  # optimizer steps; 0: run `epochs` epochs
    epochs: float = 3.0
    eval_every: int = 100  # steps; the last step is always evaluated
    checkpoint_every: int = 0  # steps; 0: OUT/ckpt.pt at each evaluation (and on SIGTERM/SIGINT)
    patience: int = 3  # evaluations without improvement before stopping; 0: never stop early
    metric: str = "accuracy"  # accuracy | f1 | loss: picks the best model
    group_by_length: bool = True
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp16 | fp32
    compile: bool = False  # torch.compile the model (GPUs: faster steps after a warm-up of a minute or so)
    device: str = "auto"
    seed: int = 0  # rank r trains with seed + r
    log_every: int = 10


@dataclass
class Prepared:
    """Everything a training run needs, loaded and checked."""

    model: Any
    tokenizer: Any
    labels: LabelMap
    train_ids: list[list[int]]
    train_y: list[int]
    eval_ids: list[list[int]]
    eval_y: list[int]


def check(cfg: FinetuneConfig) -> None:
    for name in ("model", "data"):
        if not getattr(cfg, name):
            raise ConfigError(
                f"no {name} given; set it in the config or pass --{name}=... "
                "(configs/finetune-demo.toml is a complete example)"
            )
    if cfg.metric not in ("accuracy", "f1", "loss"):
        raise ConfigError(f"metric must be accuracy, f1 or loss, got {cfg.metric!r}")
    if cfg.pooling not in ("cls", "mean"):
        raise ConfigError(f"pooling must be cls or mean, got {cfg.pooling!r}")
    for name in ("batch_size", "grad_accum", "eval_batch_size", "max_length", "log_every"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    if cfg.max_steps < 0 or cfg.epochs <= 0:
        raise ConfigError("max_steps must be >= 0 and epochs > 0")


def load_data(cfg: FinetuneConfig) -> tuple[LabelMap, list[str], list[int], list[str], list[int]]:
    """(labels, train texts, train label ids, eval texts, eval label ids), checked."""
    texts, raw = load_labelled(cfg.data, cfg.text_column, cfg.label_column, cfg.data_filter, cfg.data_split)
    if cfg.eval_data:
        train_texts, train_raw = texts, raw
        eval_texts, eval_raw = load_labelled(
            cfg.eval_data, cfg.text_column, cfg.label_column, cfg.data_filter, cfg.eval_split
        )
    else:
        train_idx, eval_idx = split_eval(texts, cfg.eval_size, cfg.seed)
        train_texts, train_raw = [texts[i] for i in train_idx], [raw[i] for i in train_idx]
        eval_texts, eval_raw = [texts[i] for i in eval_idx], [raw[i] for i in eval_idx]
    labels = LabelMap.infer(train_raw, cfg.label_names or None, cfg.data)
    return (
        labels,
        train_texts,
        labels.ids(train_raw, cfg.data),
        eval_texts,
        labels.ids(eval_raw, cfg.eval_data or cfg.data),
    )


def load_tokenizer(spec: str) -> Any:
    from transformers import AutoTokenizer

    from .sources import load_error, resolve_model

    path = resolve_model(spec)
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise load_error("tokenizer", spec, exc) from None


def load_classifier(spec: str, labels: LabelMap, pooling: str = "cls") -> Any:
    from transformers import AutoModelForSequenceClassification

    from .sources import load_error, resolve_model

    path = resolve_model(spec)
    try:
        if pooling == "mean":
            from .pooling import MeanPoolingClassifier

            return MeanPoolingClassifier.from_pretrained(
                path, len(labels.names), labels.id2label, labels.label2id
            )
        return AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=len(labels.names),
            id2label=labels.id2label,
            label2id=labels.label2id,
            ignore_mismatched_sizes=True,  # a classifier with other labels
        )
    except (OSError, ValueError) as exc:
        raise load_error("model", spec, exc) from None


def prepare(cfg: FinetuneConfig) -> Prepared:
    from .textdata import encode

    check(cfg)
    labels, train_texts, train_y, eval_texts, eval_y = load_data(cfg)
    tokenizer = load_tokenizer(cfg.tokenizer or cfg.model)
    model = load_classifier(cfg.model, labels, cfg.pooling)
    return Prepared(
        model,
        tokenizer,
        labels,
        encode(tokenizer, train_texts, cfg.max_length),
        train_y,
        encode(tokenizer, eval_texts, cfg.max_length),
        eval_y,
    )


def classification_metrics(preds: list[int], gold: list[int], num_labels: int) -> dict[str, float]:
    """Accuracy, F1 (of label 1 for two labels, else macro) and macro F1, computed here (no hub)."""
    confusion = [[0] * num_labels for _ in range(num_labels)]
    for p, g in zip(preds, gold, strict=True):
        confusion[g][p] += 1
    return confusion_metrics(confusion)


def confusion_metrics(confusion: list[list[float]]) -> dict[str, float]:
    """The metrics of a confusion matrix (rows: gold label, columns: prediction)."""
    num_labels = len(confusion)
    n = sum(map(sum, confusion))
    accuracy = sum(confusion[c][c] for c in range(num_labels)) / max(n, 1)
    f1s = []
    for c in range(num_labels):
        tp = confusion[c][c]
        fp = sum(confusion[g][c] for g in range(num_labels)) - tp
        fn = sum(confusion[c]) - tp
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    macro = sum(f1s) / num_labels
    return {"accuracy": accuracy, "f1": f1s[1] if num_labels == 2 else macro, "f1_macro": macro}


def batch_tensors(
    ids: list[list[int]], index: list[int], pad_id: int, multiple_of: int | None, y: list[int] | None = None
) -> dict[str, Any]:
    import torch

    from .textdata import pad

    input_ids, mask = pad([ids[i] for i in index], pad_id, multiple_of)
    batch = {"input_ids": input_ids, "attention_mask": mask}
    if y is not None:
        batch["labels"] = torch.tensor([y[i] for i in index], dtype=torch.long)
    return batch


def evaluate(
    model: Any,
    ids: list[list[int]],
    y: list[int],
    *,
    batch_size: int,
    pad_id: int,
    device: Any,
    precision: str,
    num_labels: int,
    dist: Any = None,
) -> dict[str, float]:
    """Loss and classification metrics of ``model`` on encoded examples. Under several processes
    (``dist``) each rank scores its share and the sums are all-reduced: every rank gets the metrics."""
    import torch

    from .device import DistInfo, autocast
    from .engine import all_sum, my_share
    from .progress import bar
    from .textdata import sorted_batches

    dist = dist or DistInfo(device)
    mine = my_share(len(ids), dist)
    confusion = torch.zeros(num_labels, num_labels, dtype=torch.float64)
    total_loss = 0.0
    multiple_of = 8 if device.type == "cuda" else None
    with torch.no_grad():
        batches = sorted_batches([len(ids[i]) for i in mine], batch_size)
        for local in bar(batches, desc="evaluate", unit="batch"):
            index = [mine[j] for j in local]
            batch = batch_tensors(ids, index, pad_id, multiple_of, y)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast(device, precision):
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            logits = logits.float()
            total_loss += float(torch.nn.functional.cross_entropy(logits, batch["labels"], reduction="sum"))
            pairs = batch["labels"].cpu() * num_labels + logits.argmax(-1).cpu()
            confusion += torch.bincount(pairs, minlength=num_labels**2).view(num_labels, num_labels)
    sums = all_sum(torch.cat((confusion.flatten(), torch.tensor([total_loss], dtype=torch.float64))), dist)
    metrics = confusion_metrics(sums[:-1].view(num_labels, num_labels).tolist())
    return {"loss": float(sums[-1]) / max(len(ids), 1), **{k: round(v, 5) for k, v in metrics.items()}}


def run(
    cfg: FinetuneConfig, out: Path, prepared: Prepared | None = None, resume: bool = False
) -> dict[str, Any]:
    """Fine-tune, keep the best model in OUT/model, and return what eval.json holds (with exit_code)."""
    import math

    from .engine import LoopSettings, check_resume, job, train_and_save
    from .textdata import length_grouped_batches, random_batches, shard

    check(cfg)
    check_resume(out, resume)
    with job(cfg.device, cfg.precision, cfg.seed) as (dist, precision):
        data = prepared or prepare(cfg)
        pad_id = data.tokenizer.pad_token_id if data.tokenizer.pad_token_id is not None else 0
        multiple_of = 8 if dist.device.type == "cuda" else None  # tensor cores like multiples of 8
        lengths = [len(s) for s in data.train_ids]

        def batches(epoch: int, skip: int = 0):
            seed = cfg.seed + epoch  # the same order on every rank; each takes its own share
            if cfg.group_by_length:
                order = length_grouped_batches(lengths, cfg.batch_size, seed)
            else:
                order = random_batches(len(lengths), cfg.batch_size, seed)
            for index in shard(order, dist.rank, dist.world_size)[skip:]:
                yield batch_tensors(data.train_ids, index, pad_id, multiple_of, data.train_y)

        def run_eval() -> dict[str, float]:
            return evaluate(
                data.model,
                data.eval_ids,
                data.eval_y,
                batch_size=cfg.eval_batch_size,
                pad_id=pad_id,
                device=dist.device,
                precision=precision,
                num_labels=len(data.labels.names),
                dist=dist,
            )

        per_epoch = len(shard(random_batches(len(lengths), cfg.batch_size, 0), dist.rank, dist.world_size))
        settings = LoopSettings(
            max_steps=cfg.max_steps or math.ceil(cfg.epochs * per_epoch / cfg.grad_accum), lr=cfg.lr,
            weight_decay=cfg.weight_decay, warmup_ratio=cfg.warmup_ratio, grad_clip=cfg.grad_clip,
            precision=precision, log_every=cfg.log_every, eval_every=cfg.eval_every, patience=cfg.patience,
            metric=cfg.metric, greater_is_better=cfg.metric != "loss", grad_accum=cfg.grad_accum,
            seed=cfg.seed, compile=cfg.compile, checkpoint_every=cfg.checkpoint_every,
        )  # fmt: skip
        details = {"train_examples": len(data.train_ids), "eval_examples": len(data.eval_ids),
                   "labels": list(data.labels.names), "pooling": cfg.pooling, "grad_accum": cfg.grad_accum,
                   "engine": ENGINE}  # fmt: skip
        return train_and_save(data.model, data.tokenizer, batches, settings, dist, out, cfg=cfg,
                              evaluate=run_eval, details=details, resume=resume)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return run_job(
        argv, "finetune", __doc__, FinetuneConfig, run, ("accuracy", "f1", "best_step", "train_samples_per_s")
    )
