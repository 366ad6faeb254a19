"""`python -m PACKAGE COMMAND ...`: one entry point for every job.

Each command lives in its own module with a ``main(argv)`` function, imported only when
run, so `--help` stays instant (no torch import).
"""

from __future__ import annotations

import importlib
import sys

# command -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "prepare": ("prepare", "main", "tokenise a corpus once, in parallel, into memory-mapped token shards"),
    "train": ("train", "main", "train a GPT or an encoder-decoder Transformer from scratch"),
    "bench": ("bench", "main", "measure training tokens/s, MFU and peak memory (one JSON line)"),
    "pretrain": ("pretrain", "main", "pre-train a BERT-style encoder: masked-LM, optionally next-sentence"),
    "finetune": ("finetune", "main", "fine-tune a pretrained encoder for text classification (sentiment)"),
    "predict": ("predict", "main", "classify texts with a fine-tuned model; JSON lines out"),
    "generate": ("generate", "main", "sample text from a trained GPT or any Hugging Face causal LM"),
    "provenance": ("provenance", "main", "say whether today's code and env match a run's run.json"),
}


def _package() -> str:
    return __name__.rpartition(".")[0]


def usage() -> str:
    lines = [f"usage: python -m {_package()} COMMAND [--help] [options]", "", "commands:"]
    width = max((len(c) for c in COMMANDS), default=0)
    lines += [f"  {name:<{width}}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    entry = getattr(importlib.import_module(f".{module}", _package()), func)
    return int(entry(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
