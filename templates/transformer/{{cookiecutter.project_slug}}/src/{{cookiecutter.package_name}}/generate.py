"""Sample text from a GPT trained here, or from any Hugging Face causal LM.

    python -m PACKAGE generate --model runs/tiny "The king"                       # a run folder of `train`
    python -m PACKAGE generate --model gpt2 --max_new_tokens 50 --top_p 0.9 "Hello, I'm a language model,"
    python -m PACKAGE generate --model runs/tiny --num_samples 3 --seed 1 --format text --out runs/samples

``--model`` is a folder written by ``train`` (it holds ckpt.pt and tokenizer.json), or a causal LM
for ``AutoModelForCausalLM``: a save_pretrained folder, pkg:PACKAGE, or a hub name such as ``gpt2``
(online). Prompts are the bare words, else the lines of ``--input`` (.txt, or .csv/.jsonl with a
text column), else stdin; with none, one unconditional sample starts from a newline (or BOS).

Sampling: ``temperature`` (0 is greedy), then ``top_k`` (0: off), then ``top_p`` (nucleus; 1: off),
seeded by ``seed``. Both kinds of model decode with a KV cache (``--use_cache false`` recomputes
every position: same tokens, slower). Output: JSON lines (``{"prompt", "sample", "completion",
"new_tokens"}``) or plain text, on stdout or in OUT/samples.jsonl / OUT/samples.txt. One JSON line
on stderr gives the speed: new tokens, seconds and tokens/s.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cmdline import parse_job
from .config import ConfigError, fail, pair_options


@dataclass
class GenerateConfig:
    model: str = ""  # run folder of `train`, or a causal LM: save_pretrained folder, pkg:PACKAGE, hub name
    input: str = ""  # file of prompts; "-": stdin
    text_column: str = "text"
    max_new_tokens: int = 100
    temperature: float = 0.8  # 0: greedy
    top_k: int = 0  # keep the k most likely tokens; 0: off
    top_p: float = 1.0  # keep the smallest set of tokens whose probability reaches p; 1: off
    num_samples: int = 1  # per prompt
    seed: int = 0
    use_cache: bool = True  # KV cache
    format: str = "jsonl"  # jsonl | text
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp16 | fp32: the weights' dtype
    device: str = "auto"


def check(cfg: GenerateConfig) -> None:
    if not cfg.model:
        raise ConfigError("no model given; pass --model RUN_DIR (a train run) or a causal LM folder or name")
    if cfg.format not in ("jsonl", "text"):
        raise ConfigError(f"format must be jsonl or text, got {cfg.format!r}")
    if cfg.max_new_tokens < 1 or cfg.num_samples < 1:
        raise ConfigError("max_new_tokens and num_samples must be at least 1")
    if cfg.temperature < 0 or cfg.top_k < 0 or not 0 < cfg.top_p <= 1:
        raise ConfigError("temperature must be >= 0, top_k >= 0 and top_p in (0, 1]")


def is_train_run(spec: str) -> bool:
    return (Path(spec).expanduser() / "ckpt.pt").is_file()


class Generator:
    """One interface over both kinds of model: ``sample(prompt, n) -> [(completion, new tokens)]``."""

    def __init__(self, cfg: GenerateConfig, device: Any, precision: str):
        import torch

        self.cfg, self.device = cfg, device
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
        if is_train_run(cfg.model):
            from .train import load_trained

            model, tokenizer, train_cfg = load_trained(Path(cfg.model).expanduser(), device)
            if train_cfg.model != "gpt":
                raise ConfigError(f"{cfg.model} holds a {train_cfg.model} model; generate samples from GPTs")
            if tokenizer is None:
                raise ConfigError(f"{cfg.model}: the run has no tokenizer (corpus=random?); nothing decodes")
            self.kind, self.eos = "gpt", None
        else:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from .sources import load_error, resolve_model

            path = resolve_model(cfg.model)
            try:
                tokenizer = AutoTokenizer.from_pretrained(path)
                model = AutoModelForCausalLM.from_pretrained(path)
            except (OSError, ValueError) as exc:
                raise load_error("causal LM", cfg.model, exc) from None
            model.to(device).eval()
            self.kind, self.eos = "hf", tokenizer.eos_token_id
        self.model, self.tokenizer = model.to(dtype), tokenizer

    def encode(self, prompt: str) -> list[int]:
        if self.kind == "gpt":
            try:
                ids = self.tokenizer.encode(prompt or "\n")
            except ValueError as exc:  # a character the char vocabulary lacks
                raise ConfigError(f"prompt {prompt[:40]!r}: {exc}") from None
            return ids or self.tokenizer.encode("\n")
        ids = self.tokenizer(prompt, add_special_tokens=True)["input_ids"] if prompt else []
        if not ids:
            start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.eos
            if start is None:
                raise ConfigError("an empty prompt needs a BOS or EOS token; give a prompt")
            ids = [start]
        return ids

    def sample(self, prompt: str, n: int) -> list[tuple[str, int]]:
        import torch

        cfg = self.cfg
        ids = self.encode(prompt)
        idx = torch.tensor([ids] * n, dtype=torch.long, device=self.device)
        with torch.no_grad():
            if self.kind == "gpt":
                limit = self.model.config.block_size
                if len(ids) > limit:
                    idx = idx[:, -limit:]
                out = self.model.generate(
                    idx, cfg.max_new_tokens, cfg.temperature, cfg.top_k or None, cfg.top_p,
                    use_cache=cfg.use_cache, vocab_size=self.tokenizer.vocab_size,
                )  # fmt: skip
            else:
                sampling = {"do_sample": True, "temperature": cfg.temperature, "top_k": cfg.top_k,
                            "top_p": cfg.top_p} if cfg.temperature > 0 else {"do_sample": False}  # fmt: skip
                pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos
                out = self.model.generate(input_ids=idx, attention_mask=torch.ones_like(idx),
                                          max_new_tokens=cfg.max_new_tokens, use_cache=cfg.use_cache,
                                          pad_token_id=pad, **sampling)  # fmt: skip
        results = []
        for row in out[:, idx.size(1) :].tolist():
            if self.eos is not None and self.eos in row:
                row = row[: row.index(self.eos) + 1]  # generation stopped at EOS; the rest is padding
            text = self.tokenizer.decode(row, skip_special_tokens=True) if self.kind == "hf" else (
                self.tokenizer.decode(row))  # fmt: skip
            results.append((text, len(row)))
        return results


def read_prompts(cfg: GenerateConfig, words: list[str]) -> list[str]:
    """Prompts as predict reads texts (arguments, --input); else stdin's lines; none: one unconditional."""
    from .predict import PredictConfig, read_inputs

    if words or (cfg.input and cfg.input != "-"):
        return read_inputs(PredictConfig(input=cfg.input, text_column=cfg.text_column), words)
    if cfg.input == "-" or not sys.stdin.isatty():
        lines = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if lines:
            return lines
    return [""]


def format_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return "".join(f"{r['prompt']}{r['completion']}\n" + ("\n" if i < len(rows) - 1 else "")
                   for i, r in enumerate(rows))  # fmt: skip


def write_output(text: str, out: Path | None, fmt: str) -> Path | None:
    if out is None:
        sys.stdout.write(text)
        return None
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".samples-", dir=out)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    path = out / f"samples.{'jsonl' if fmt == 'jsonl' else 'txt'}"
    os.replace(tmp, path)
    return path


def generate(cfg: GenerateConfig, prompts: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(one row per sample, speed summary)."""
    from .device import pick_device, resolve_precision, seed_everything, synchronize

    check(cfg)
    try:
        device = pick_device(cfg.device)
        precision = resolve_precision(cfg.precision, device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    generator = Generator(cfg, device, precision)
    seed_everything(cfg.seed)
    rows: list[dict[str, Any]] = []
    new_tokens, started = 0, time.perf_counter()
    for prompt in prompts:
        for i, (text, n) in enumerate(generator.sample(prompt, cfg.num_samples)):
            rows.append({"prompt": prompt, "sample": i, "completion": text, "new_tokens": n})
            new_tokens += n
    synchronize(device)
    seconds = time.perf_counter() - started
    stats = {"new_tokens": new_tokens, "seconds": round(seconds, 3),
             "tokens_per_s": round(new_tokens / max(seconds, 1e-9), 1), "use_cache": cfg.use_cache,
             "batch": cfg.num_samples, "model": generator.kind, "device": str(device),
             "precision": precision}  # fmt: skip
    return rows, stats


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options, words = pair_options(argv, GenerateConfig)  # bare words are prompts
    cfg, out = parse_job(options, "generate", __doc__, GenerateConfig, out_required=False)
    try:
        check(cfg)
        prompts = read_prompts(cfg, words)
        rows, stats = generate(cfg, prompts)
    except ConfigError as exc:
        fail(str(exc))
    path = write_output(format_rows(rows, cfg.format), out, cfg.format)
    print(json.dumps({**stats, **({"written": str(path)} if path else {})}), file=sys.stderr)
    return 0
