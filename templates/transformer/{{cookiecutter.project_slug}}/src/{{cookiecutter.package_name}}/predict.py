"""Classify texts with a fine-tuned model and write JSON lines: {"text", "label", "score"}.

    python -m PACKAGE predict --model runs/sentiment/model "a gripping film" "flat and dull"
    python -m PACKAGE predict --model=runs/sentiment/model --input=reviews.csv --out=runs/preds
    cat reviews.txt | python -m PACKAGE predict --model=runs/sentiment/model > preds.jsonl

Texts come from the arguments, else from --input (a .txt file with one text per line, or a
.csv/.jsonl/.json with a text column), else from stdin (one per line). Output goes to stdout, or to
OUT/predictions.jsonl with --out. Inference runs in length-sorted batches (little padding), bf16 on
GPUs, and the output keeps the input order.

Online alternative to a local model: ``--model=NAME`` takes any hub classifier, or load one through
PyTorch Hub (needs GitHub and the hub):

    import torch
    model = torch.hub.load("huggingface/transformers", "modelForSequenceClassification",
                           "distilbert-base-uncased-finetuned-sst-2-english")
    tokenizer = torch.hub.load("huggingface/transformers", "tokenizer",
                               "distilbert-base-uncased-finetuned-sst-2-english")
    predict_texts(model, tokenizer, ["a gripping film"])
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cmdline import parse_job
from .config import ConfigError, fail, pair_options


@dataclass
class PredictConfig:
    model: str = ""  # folder written by `finetune` (OUT/model), pkg:PACKAGE, or a hub name (online)
    input: str = ""  # file of texts; "-" or empty with no text arguments: stdin
    text_column: str = "text"
    batch_size: int = 64
    max_length: int = 128
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp16 | fp32
    device: str = "auto"


def load(spec: str) -> tuple[Any, Any]:
    """(model, tokenizer) saved by ``finetune``."""
    from transformers import AutoModelForSequenceClassification

    from .finetune import load_tokenizer
    from .sources import load_error, resolve_model

    if not spec:
        raise ConfigError("no model given; pass --model=runs/NAME/model (the folder finetune wrote)")
    from .pooling import MeanPoolingClassifier, is_mean_pooled

    path = resolve_model(spec)
    try:
        if is_mean_pooled(path):  # finetune --pooling=mean
            model = MeanPoolingClassifier.from_pretrained(path)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise load_error("model", spec, exc) from None
    return model, load_tokenizer(spec)


def predict_texts(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    device: Any = None,
    precision: str = "fp32",
) -> list[dict[str, Any]]:
    """One {"text", "label", "score"} per text, in input order; score is the softmax probability."""
    import torch

    from .device import autocast
    from .finetune import batch_tensors
    from .textdata import encode, sorted_batches

    device = device or next(model.parameters()).device
    model.to(device).eval()
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    ids = encode(tokenizer, texts, max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    results: list[dict[str, Any]] = [{} for _ in texts]
    with torch.no_grad():
        for index in sorted_batches([len(s) for s in ids], batch_size):
            batch = batch_tensors(ids, index, pad_id, 8 if device.type == "cuda" else None)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast(device, precision):
                logits = model(**batch).logits
            probs = torch.softmax(logits.float(), dim=-1)
            scores, labels = probs.max(dim=-1)
            for i, label, score in zip(index, labels.tolist(), scores.tolist(), strict=True):
                results[i] = {
                    "text": texts[i],
                    "label": id2label.get(label, str(label)),
                    "score": round(score, 6),
                }
    return results


def read_inputs(cfg: PredictConfig, texts: list[str]) -> list[str]:
    from .textdata import load_texts

    if texts:
        if cfg.input:
            raise ConfigError("give texts as arguments or --input, not both")
        return texts
    if cfg.input and cfg.input != "-":
        return load_texts(cfg.input, cfg.text_column)
    if sys.stdin.isatty():
        raise ConfigError("no texts: pass them as arguments, --input=FILE, or pipe them on stdin")
    lines = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not lines:
        raise ConfigError("stdin held no texts; send one text per line")
    return lines


def write_jsonl(rows: list[dict[str, Any]], out: Path | None) -> None:
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if out is None:
        sys.stdout.write(lines)
        return
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".predictions-", dir=out)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(lines)
    os.replace(tmp, out / "predictions.jsonl")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options, texts = pair_options(argv, PredictConfig)  # bare words are texts; --key value is an option
    cfg, out = parse_job(options, "predict", __doc__, PredictConfig, out_required=False)
    try:
        from .device import pick_device, resolve_precision

        inputs = read_inputs(cfg, texts)
        try:
            device = pick_device(cfg.device)
            precision = resolve_precision(cfg.precision, device)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        model, tokenizer = load(cfg.model)
        rows = predict_texts(
            model,
            tokenizer,
            inputs,
            batch_size=cfg.batch_size,
            max_length=cfg.max_length,
            device=device,
            precision=precision,
        )
    except ConfigError as exc:
        fail(str(exc))
    write_jsonl(rows, out)
    if out is not None:
        print(f"{len(rows)} predictions written to {out / 'predictions.jsonl'}", file=sys.stderr)
    return 0
