#!/usr/bin/env bash
# GPU check of the from-scratch Transformer training in the `transformer` template (written for one H200).
#
#   1. smoke: configs/gpt-tiny.toml on the GPU (bf16 autocast, torch.compile, fused AdamW, flash SDPA):
#      40 steps, then --resume for 10 more (checkpoint load onto CUDA), the loss must fall;
#   2. shards: `prepare` tokenises a generated 20 MB corpus (BPE, one process per core) into
#      memory-mapped shards, then GPT-2 small trains 60 steps reading them by memmap (bf16, compiled);
#      prints prepare's tokens/s and training's tokens/s and MFU from the shards; the loss must fall;
#   3. speed: GPT-2 small (124M parameters, seq 1024, bf16, compiled) via the template's `bench`
#      command on random tokens: one JSON line per batch size with tokens/s, MFU and peak memory.
#      Target: MFU >= 45% (dense bf16 peak: 989 TFLOPS on H100 SXM/H200, 835 on H200 NVL, 312 on A100).
#   3. generate: the `generate` command on the smoke run (8 samples x 200 tokens, KV cache on and off),
#      then GPT-2 small's shape in bf16 (benchmarks/bench_generate.py): new tokens/s, batch 1 and 8,
#      with and without the KV cache; JSON lines in $OUT/gpu_check-generate.jsonl.
#
# The template's package is run straight from templates/ (its .py files are never rendered), staged
# as a package named `tfm`; no project generation, no network. Needs: torch with CUDA, tokenizers,
# numpy, matplotlib, tqdm (tensorboard optional).
#
#   bash benchmarks/gpu_check.sh                       # ~3-5 minutes, most of it torch.compile
#   BATCH_SIZES="16 32 64" STEPS=30 bash benchmarks/gpu_check.sh
#   SKIP_SMOKE=1 SKIP_SHARDS=1 bash benchmarks/gpu_check.sh   # speed only
#   COMPILE_MODE=max-autotune-no-cudagraphs bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
BATCH_SIZES=${BATCH_SIZES:-32}
GRAD_ACCUM=${GRAD_ACCUM:-4}
STEPS=${STEPS:-20}
COMPILE_MODE=${COMPILE_MODE:-default}
OUT=${OUT:-.}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" - <<'PY'
import importlib.util, sys
missing = [m for m in ("torch", "tokenizers", "numpy", "matplotlib", "tqdm") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing Python packages: {', '.join(missing)}")
import torch
if not torch.cuda.is_available():
    sys.exit("no CUDA GPU visible to torch; this script checks GPU training")
print(f"# {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"bf16 {torch.cuda.is_bf16_supported()}, flash SDPA {torch.backends.cuda.flash_sdp_enabled()}", flush=True)
PY

TEMPLATE="templates/transformer/{{cookiecutter.project_slug}}"
cp -r "$TEMPLATE/src/{{cookiecutter.package_name}}" "$WORK/tfm"
cp -r "$TEMPLATE/configs" "$WORK/configs"
export PYTHONPATH="$WORK${PYTHONPATH:+:$PYTHONPATH}"

if [ -z "${SKIP_SMOKE:-}" ]; then
  echo "## smoke: gpt-tiny on the GPU, then resumed"
  run="$WORK/run-tiny"
  "$PYTHON" -m tfm train --config "$WORK/configs/gpt-tiny.toml" --out "$run" --max-steps 40 \
    --tensorboard=false --progress=false --eval_interval=40 > "$OUT/gpu_check-smoke.log" 2>&1
  "$PYTHON" -m tfm train --out "$run" --resume --max-steps 50 --progress=false >> "$OUT/gpu_check-smoke.log" 2>&1
  "$PYTHON" - "$run" <<'PY'
import json, sys, torch
records = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics.jsonl")]
losses = [r["loss"] for r in records if "loss" in r]
ckpt = torch.load(f"{sys.argv[1]}/ckpt.pt", map_location="cpu", weights_only=True)
ok = ckpt["step"] == 50 and losses[-1] < 0.7 * losses[0]
print(f"smoke: steps {[r['step'] for r in records if 'loss' in r][-1]}, loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
      f"{records[-1].get('tokens_per_s', 0):,.0f} tok/s, checkpoint step {ckpt['step']}: {'OK' if ok else 'FAILED'}")
sys.exit(0 if ok else 1)
PY
fi

if [ -z "${SKIP_SMOKE:-}" ]; then
  echo "## generate: the smoke run's GPT, 8 samples x 200 new tokens, greedy, KV cache on and off"
  for cache in true false; do
    "$PYTHON" -m tfm generate --model "$run" --max_new_tokens 200 --num_samples 8 --temperature 0 \
      --use_cache "$cache" --out "$WORK/gen-$cache" 2>"$OUT/gpu_check-generate-cli-$cache.log"
    tail -n 1 "$OUT/gpu_check-generate-cli-$cache.log" | tee -a "$OUT/gpu_check-generate.jsonl"
  done
  if cmp -s "$WORK/gen-true/samples.jsonl" "$WORK/gen-false/samples.jsonl"; then
    echo "generate: cached and uncached samples identical"
  else
    echo "generate: cached and uncached samples differ (bf16 rounding can flip a greedy choice)"
  fi
fi
echo "## generate: GPT-2 small's shape (124M, random weights), bf16, 256 new tokens, batch 1 and 8"
"$PYTHON" benchmarks/bench_generate.py --shape gpt2 --models gpt --batch 1,8 --new-tokens 256 --device cuda \
  --precision bf16 --append-json "$OUT/gpu_check-generate.jsonl" 2>"$OUT/gpu_check-generate.log" | tail -n 4

if [ -z "${SKIP_SHARDS:-}" ]; then
  echo "## shards: prepare a 20 MB corpus (BPE), then GPT-2 small trains from the shards by memmap"
  corpus="$WORK/corpus"
  mkdir -p "$corpus"
  "$PYTHON" - "$corpus" <<'PY'
import sys
from pathlib import Path
from tfm.data import synthetic_text
for i in range(40):  # 40 documents of 500 kB
    (Path(sys.argv[1]) / f"doc{i:02d}.txt").write_text(synthetic_text(500_000, seed=i))
PY
  "$PYTHON" -m tfm prepare --corpus="$corpus" --tokenizer=bpe --bpe_vocab_size=8192 --chunk_mb=1 \
    --val_fraction=0.02 --out "$WORK/shards" > "$OUT/gpu_check-prepare.json" 2> "$OUT/gpu_check-prepare.log"
  run="$WORK/run-shards"
  "$PYTHON" -m tfm train --config "$WORK/configs/gpt2-small.toml" --corpus="$WORK/shards" --out "$run" \
    --max-steps 60 --tokens_per_step=0 --batch_size=16 --grad_accum=1 --warmup_steps=10 --log_interval=20 \
    --eval_interval=60 --eval_batches=10 --checkpoint_interval=0 --progress=false --tensorboard=false \
    --compile_mode="$COMPILE_MODE" > "$OUT/gpu_check-shards.log" 2>&1
  "$PYTHON" - "$OUT/gpu_check-prepare.json" "$run" <<'PY'
import json, sys
prep = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
records = [json.loads(l) for l in open(f"{sys.argv[2]}/metrics.jsonl")]
steps = [r for r in records if "loss" in r]
ok = steps[-1]["loss"] < steps[0]["loss"] and any("val_loss" in r for r in records)
mfu = "n/a" if steps[-1]["mfu"] is None else f"{100 * steps[-1]['mfu']:.1f}%"
print(f"prepare: {prep['tokens']:,} tokens in {prep['seconds']:.1f} s ({prep['tokens'] / prep['seconds']:,.0f} tokens/s, "
      f"{prep['workers']} processes); train from shards: loss {steps[0]['loss']:.3f} -> {steps[-1]['loss']:.3f}, "
      f"{steps[-1]['tokens_per_s']:,.0f} tok/s, MFU {mfu}: {'OK' if ok else 'FAILED'}")
sys.exit(0 if ok else 1)
PY
fi

echo "## speed: GPT-2 small (124M), seq 1024, bf16, torch.compile, grad_accum $GRAD_ACCUM, $STEPS timed steps"
for bs in $BATCH_SIZES; do
  line=$("$PYTHON" -m tfm bench --config "$WORK/configs/gpt2-small.toml" --corpus=random --steps "$STEPS" \
    --batch_size="$bs" --tokens_per_step=0 --grad_accum="$GRAD_ACCUM" --compile_mode="$COMPILE_MODE" \
    2>"$OUT/gpu_check-bench-$bs.log" | tail -n 1)
  echo "$line" >> "$OUT/gpu_check.jsonl"
  "$PYTHON" - "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
mfu = "n/a" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
verdict = "" if r["mfu"] is None else (" OK" if r["mfu"] >= 0.45 else " MISSED") + " (target >= 45%)"
print(f"batch {r['batch_size']} x {r['seq_len']} x accum {r['grad_accum']}: {r['tokens_per_s']:,.0f} tok/s, "
      f"MFU {mfu}{verdict}, peak memory {r['peak_memory_gb']:.1f} GB, {r['params'] / 1e6:.1f}M params, "
      f"{r['precision']}, compile {r['compile']}, {r['device']}")
PY
done
