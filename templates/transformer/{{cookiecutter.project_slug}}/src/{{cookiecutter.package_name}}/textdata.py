"""Text for pre-training and classification: read, check, label, tokenise and batch.

A source is a string (see sources.py): a .csv/.tsv/.jsonl/.json/.txt file, ``pkg:PACKAGE/file``,
``synthetic:sentiment`` (a generated two-class task for smoke runs), or a Hugging Face datasets name.
Every problem with the data is a DataError: one line naming the source, what is wrong and the fix.
"""

from __future__ import annotations

import csv
import json
import random
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sources import SourceError, local_path

SYNTHETIC = "synthetic:sentiment"


class DataError(SourceError):
    """Data that cannot be used as given."""


# --------------------------------------------------------------------------- reading


def read_rows(spec: str, split: str = "train") -> list[dict[str, Any]]:
    """All rows of a source as dicts (column -> value)."""
    if spec == SYNTHETIC:
        return synthetic_sentiment(2000, seed=0)
    if spec.startswith("synthetic:"):
        raise DataError(f"unknown synthetic source {spec!r}; the only one is {SYNTHETIC!r}")
    path = local_path(spec)
    if path is None:
        return _read_hub_dataset(spec, split)
    if path.is_dir():
        raise DataError(f"data {spec!r} is a folder; give a .csv, .tsv, .jsonl, .json or .txt file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        rows = _read_csv(path, "\t" if suffix == ".tsv" else ",")
    elif suffix in (".jsonl", ".ndjson"):
        rows = _read_jsonl(path)
    elif suffix == ".json":
        rows = _read_json(path)
    elif suffix == ".txt":
        rows = [{"text": line} for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        raise DataError(
            f"data file {path} has an unknown type {suffix!r}; use .csv, .tsv, .jsonl, .json or .txt"
        )
    if not rows:
        raise DataError(f"data file {path} is empty; it needs a header and at least one row")
    return rows


def _read_csv(path: Path, delimiter: str) -> list[dict[str, Any]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long reviews exceed the 128 KiB default
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [dict(row) for row in csv.DictReader(f, delimiter=delimiter)]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}:{number}: not valid JSON ({exc.msg}); write one object per line"
                ) from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: expected a JSON object per line, got {type(row).__name__}")
            rows.append(row)
    return rows


def _read_json(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "[]")
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{path}: expected a JSON list of objects; for one object per line use .jsonl")
    return data


def _read_hub_dataset(name: str, split: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"data {name!r} is not a local file; to load it as a Hugging Face dataset install `datasets`"
        ) from None
    try:
        ds = datasets.load_dataset(name, split=split)
    except Exception as exc:  # datasets raises many types; all mean "cannot get it"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot load dataset {name!r} split {split!r}: {first}") from None
    return [dict(row) for row in ds]


def select(rows: list[dict[str, Any]], where: dict[str, Any], spec: str) -> list[dict[str, Any]]:
    """Rows whose columns equal the given values, e.g. ``{"source": "rotten_tomatoes"}``."""
    if not where:
        return rows
    for column in where:
        if column not in rows[0]:
            raise DataError(
                f"data {spec}: data_filter names column {column!r}, which it lacks "
                f"(columns: {', '.join(map(str, rows[0]))})"
            )
    kept = [r for r in rows if all(str(r.get(k)) == str(v) for k, v in where.items())]
    if not kept:
        raise DataError(f"data {spec}: no rows match data_filter {where}")
    return kept


def _check_column(rows: list[dict[str, Any]], column: str, option: str, spec: str) -> None:
    if column not in rows[0]:
        raise DataError(
            f"data {spec} has no column {column!r} (columns: {', '.join(map(str, rows[0]))}); "
            f"set --{option}=NAME"
        )
    for number, row in enumerate(rows, 1):
        value = row.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataError(f"data {spec}: row {number} has an empty {column!r}; fix or remove it")


def load_labelled(
    spec: str,
    text_column: str = "text",
    label_column: str = "label",
    where: dict[str, Any] | None = None,
    split: str = "train",
) -> tuple[list[str], list[Any]]:
    """Texts and raw labels of a labelled source, checked."""
    rows = select(read_rows(spec, split), where or {}, spec)
    _check_column(rows, text_column, "text_column", spec)
    _check_column(rows, label_column, "label_column", spec)
    return [str(r[text_column]) for r in rows], [r[label_column] for r in rows]


def load_texts(
    spec: str, text_column: str = "text", where: dict[str, Any] | None = None, split: str = "train"
) -> list[str]:
    rows = select(read_rows(spec, split), where or {}, spec)
    _check_column(rows, text_column, "text_column", spec)
    return [str(r[text_column]) for r in rows]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def split_eval(items: Sequence[Any], size: float, seed: int) -> tuple[list[int], list[int]]:
    """Shuffled train/eval indices; ``size`` < 1 is a fraction, otherwise a count."""
    n = len(items)
    n_eval = int(round(n * size)) if size < 1 else int(size)
    if n_eval <= 0 or n_eval >= n:
        raise DataError(
            f"eval_size={size} leaves no {'eval' if n_eval <= 0 else 'training'} rows out of {n}; "
            "set --eval_size to a fraction like 0.1 or a count below the row count"
        )
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order[n_eval:], order[:n_eval]


# --------------------------------------------------------------------------- labels


def _normalise(value: Any) -> int | str:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else text


@dataclass(frozen=True)
class LabelMap:
    """Raw label values (as found in the data) in class-id order, and their display names."""

    values: tuple[int | str, ...]
    names: tuple[str, ...]

    @classmethod
    def infer(cls, raw: Iterable[Any], names: Sequence[str] | None = None, spec: str = "data") -> LabelMap:
        found = {_normalise(v) for v in raw}
        if any(isinstance(v, str) for v in found):
            found = {str(v) for v in found}
        values = tuple(sorted(found))  # type: ignore[type-var]
        if len(values) < 2:
            shown = ", ".join(map(repr, values)) or "none"
            raise DataError(
                f"data {spec} has only one label ({shown}); a classifier needs at least two "
                "(check --label_column and --data_filter)"
            )
        if names:
            if len(names) != len(values):
                raise DataError(
                    f"label_names has {len(names)} names but data {spec} has {len(values)} labels "
                    f"{list(values)}; give one name per label in sorted order"
                )
            return cls(values, tuple(names))
        return cls(values, tuple(str(v) for v in values))

    @classmethod
    def from_model_config(cls, config: Any) -> LabelMap:
        id2label = {int(k): v for k, v in config.id2label.items()}
        names = tuple(id2label[i] for i in range(len(id2label)))
        return cls(names, names)

    def ids(self, raw: Iterable[Any], spec: str = "data") -> list[int]:
        index = {v: i for i, v in enumerate(self.values)}
        as_str = isinstance(self.values[0], str)
        out = []
        for value in raw:
            key = _normalise(value)
            key = str(key) if as_str else key
            if key not in index:
                raise DataError(
                    f"data {spec}: label {value!r} was not in the training labels {list(self.values)}"
                )
            out.append(index[key])
        return out

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}


# --------------------------------------------------------------------------- batching


def encode(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids with [CLS]/[SEP], truncated, not padded (padding happens per batch)."""
    if not texts:
        return []
    out = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return out["input_ids"]


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int, megabatch: int = 50
) -> list[list[int]]:
    """Random batches of similar-length examples, so dynamic padding pads little.

    Shuffle, cut into mega-batches of ``megabatch`` batches, sort each by length, cut into batches,
    and shuffle the batches: randomness of a plain shuffle, padding close to a full sort."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    span = batch_size * megabatch
    batches: list[list[int]] = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: -lengths[i])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def random_batches(n: int, batch_size: int, seed: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[j : j + batch_size] for j in range(0, n, batch_size)]


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Deterministic batches for evaluation and inference, longest first (least padding)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[j : j + batch_size] for j in range(0, len(order), batch_size)]


def shard(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """This rank's batches; every rank gets the same number (DDP steps in lock-step)."""
    if world_size == 1:
        return batches
    per_rank = len(batches) // world_size
    if per_rank == 0:
        raise DataError(f"{len(batches)} batches cannot feed {world_size} processes; lower --batch_size")
    return batches[rank : per_rank * world_size : world_size]


def pad(seqs: Sequence[Sequence[int]], pad_id: int, multiple_of: int | None = None) -> tuple[Any, Any]:
    """(input_ids, attention_mask) as LongTensors padded to the longest sequence in the batch."""
    import torch

    width = max(len(s) for s in seqs)
    if multiple_of:
        width = -(-width // multiple_of) * multiple_of
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


# --------------------------------------------------------------------------- synthetic task

_SUBJECTS = [
    "the film",
    "the movie",
    "the plot",
    "the acting",
    "the cast",
    "the script",
    "the ending",
    "the music",
    "the story",
    "the director",
    "this picture",
    "the dialogue",
]
_VERBS = ["was", "is", "felt", "seemed", "looked", "sounded"]
_INTENSIFIERS = ["", "", "very", "really", "quite", "truly", "rather", "so"]
_POSITIVE = [
    "wonderful",
    "brilliant",
    "moving",
    "delightful",
    "charming",
    "superb",
    "gripping",
    "funny",
    "beautiful",
    "clever",
    "touching",
    "fresh",
]
_NEGATIVE = [
    "awful",
    "boring",
    "dull",
    "clumsy",
    "tedious",
    "bland",
    "painful",
    "silly",
    "messy",
    "flat",
    "lifeless",
    "predictable",
]
_CLOSERS = ["", "", "overall", "in the end", "from start to finish", "at times", "for me"]


def synthetic_sentiment(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` short reviews of one to three sentences, label 1 when positive: separable by word choice."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = _POSITIVE if label else _NEGATIVE
        sentences = []
        for _ in range(rng.randint(1, 3)):
            parts = [
                rng.choice(_SUBJECTS),
                rng.choice(_VERBS),
                rng.choice(_INTENSIFIERS),
                rng.choice(words),
                rng.choice(_CLOSERS),
            ]
            sentences.append(" ".join(p for p in parts if p) + " .")
        rows.append({"text": " ".join(sentences), "label": label})
    rng.shuffle(rows)
    return rows
