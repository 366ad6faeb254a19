"""Text-generation speed of the generated project's `generate` paths, with and without the KV cache.

Two models of one shape, random weights (nothing is downloaded): the template's from-scratch GPT
(model.GPT.generate, what `generate --model RUN_DIR` calls) and a Hugging Face GPT-2
(GPT2LMHeadModel.generate with the arguments `generate --model NAME` passes). Greedy decoding of a
fixed number of new tokens after a random prompt; one untimed warm-up call first. Prints one JSON line
per (model, batch, cache) with new tokens/s, and whether cached and uncached decoding gave the same
tokens. The package is imported straight from templates/transformer (its modules are copied without
rendering), so no project needs generating.

    python benchmarks/bench_generate.py                                    # CPU: small shape, batch 1
    python benchmarks/bench_generate.py --shape gpt2 --batch 1,8 --new-tokens 256 --device cuda --precision bf16
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_finetune import load_package  # noqa: E402

SHAPES = {  # layers, heads, d_model, context, vocabulary
    "small": (4, 4, 128, 256, 96),  # the char-level Shakespeare shape (nanoGPT's CPU recipe, longer context)
    "gpt2": (12, 12, 768, 1024, 50304),  # GPT-2 small, 124M parameters
}


def build(kind: str, shape: str, device, dtype):
    import torch

    layers, heads, d_model, context, vocab = SHAPES[shape]
    torch.manual_seed(0)
    if kind == "gpt":
        import importlib

        pkg = load_package()
        importlib.import_module(f"{pkg.__name__}.model")
        config = pkg.model.GPTConfig(vocab_size=vocab, block_size=context, n_layer=layers, n_head=heads,
                                     d_model=d_model)  # fmt: skip
        model = pkg.model.GPT(config)
    else:
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(vocab_size=vocab, n_positions=context, n_layer=layers, n_head=heads, n_embd=d_model)
        model = GPT2LMHeadModel(config)
    return model.to(device=device, dtype=dtype).eval()


def decode(kind: str, model, prompt, new_tokens: int, use_cache: bool):
    import torch

    with torch.no_grad():
        if kind == "gpt":
            return model.generate(prompt, new_tokens, temperature=0, use_cache=use_cache)
        return model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens,
                              min_new_tokens=new_tokens, do_sample=False, use_cache=use_cache,
                              pad_token_id=0)  # fmt: skip


def measure(kind: str, model, vocab: int, batch: int, prompt_len: int, new_tokens: int, use_cache: bool, device):
    import torch

    prompt = torch.randint(0, vocab, (batch, prompt_len), generator=torch.Generator().manual_seed(1)).to(device)
    decode(kind, model, prompt, min(8, new_tokens), use_cache)  # warm-up: kernels, allocator
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    out = decode(kind, model, prompt, new_tokens, use_cache)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    return out[:, prompt_len:].cpu(), seconds



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--models", default="gpt,hf", help="comma list of gpt (from scratch) and hf (GPT-2)")
    parser.add_argument("--batch", default="1", help="comma list of batch sizes (samples decoded together)")
    parser.add_argument("--prompt-len", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    parser.add_argument("--append-json", type=Path, help="also append each JSON line to this file")
    args = parser.parse_args(argv)

    import torch

    device = torch.device(args.device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]
    if args.prompt_len + args.new_tokens > SHAPES[args.shape][3]:
        parser.error(f"prompt + new tokens must fit the {args.shape} context of {SHAPES[args.shape][3]}")
    rows = []
    for kind in args.models.split(","):
        model = build(kind, args.shape, device, dtype)
        for batch in (int(b) for b in args.batch.split(",")):
            tokens = {}
            for use_cache in (True, False):
                out, seconds = measure(kind, model, SHAPES[args.shape][4], batch, args.prompt_len,
                                       args.new_tokens, use_cache, device)
                tokens[use_cache] = out
                rows.append({"model": kind, "shape": args.shape, "batch": batch, "cache": use_cache,
                             "prompt": args.prompt_len, "new_tokens": args.new_tokens * batch,
                             "seconds": round(seconds, 3), "tokens_per_s": round(args.new_tokens * batch / seconds, 1),
                             "device": str(device), "precision": args.precision})  # fmt: skip
            same = bool(torch.equal(tokens[True], tokens[False]))
            for row in rows[-2:]:
                row["cached_equals_uncached"] = same
    for row in rows:
        line = json.dumps(row)
        print(line, flush=True)
        if args.append_json:
            with args.append_json.open("a") as f:
                f.write(line + "\n")
    by = {(r["model"], r["batch"], r["cache"]): r["tokens_per_s"] for r in rows}
    print(f"\n{'model':<6} {'batch':>5} {'cached tok/s':>13} {'uncached tok/s':>15} {'speed-up':>9}")
    for (kind, batch, cache), value in by.items():
        if cache:
            plain = by[(kind, batch, False)]
            print(f"{kind:<6} {batch:>5} {value:>13,.1f} {plain:>15,.1f} {value / plain:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
