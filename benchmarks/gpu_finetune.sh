#!/usr/bin/env bash
# Fine-tuning throughput and peak memory on one CUDA GPU (written for an H200), sequence length 128:
#   minilm-shape  6 layers, hidden 384  (all-MiniLM-L6-v2's shape, 22.7M parameters)
#   base-shape   12 layers, hidden 768  (BERT-base's shape, 110M parameters)
# Engines: ours (bf16 autocast, fused AdamW), trainer (HF Trainer, default TrainingArguments: fp32),
# trainer-tuned (HF Trainer with bf16 and the same batching choices as ours).
# Random weights and random token ids of exactly 128 tokens: the numbers are throughput and memory
# only (no download needed, so it runs on an offline machine). A table per setup goes to stdout, one
# JSON object per setup is appended to $OUT/gpu_finetune.jsonl and progress to $OUT/gpu_finetune-*.log.
# Then ours again with torch.compile (COMPILE=0 skips it), and text generation from a Hugging Face
# GPT-2 of GPT-2 small's shape (random weights): new tokens/s with and without the KV cache, batch 1
# and 8 (benchmarks/bench_generate.py; JSON lines in $OUT/gpu_generate.jsonl).
#
#   bash benchmarks/gpu_finetune.sh                # ~2-4 minutes on an H200
#   STEPS=300 BATCH_SIZE=128 bash benchmarks/gpu_finetune.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
STEPS=${STEPS:-200}
BATCH_SIZE=${BATCH_SIZE:-64}
ENGINES=${ENGINES:-ours,trainer,trainer-tuned}
OUT=${OUT:-.}
mkdir -p "$OUT"

"$PYTHON" - <<'PY'
import importlib.util, sys
missing = [m for m in ("torch", "transformers", "tokenizers", "accelerate") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing Python packages: {', '.join(missing)}")
import torch
if not torch.cuda.is_available():
    sys.exit("no CUDA GPU visible to torch; this script measures GPU fine-tuning")
print(f"# {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"bf16 {torch.cuda.is_bf16_supported()}")
PY

for setup in minilm-shape base-shape; do
  echo "## $setup"
  "$PYTHON" benchmarks/bench_finetune.py --setup "$setup" --seq-len 128 --batch-size "$BATCH_SIZE" \
    --steps "$STEPS" --engines "$ENGINES" --append-json "$OUT/gpu_finetune.jsonl" 2>"$OUT/gpu_finetune-$setup.log"
done

if [ "${COMPILE:-1}" != 0 ]; then
  for setup in minilm-shape base-shape; do
    echo "## $setup, ours with torch.compile"
    "$PYTHON" benchmarks/bench_finetune.py --setup "$setup" --seq-len 128 --batch-size "$BATCH_SIZE" \
      --steps "$STEPS" --engines ours --compile --append-json "$OUT/gpu_finetune.jsonl" \
      2>"$OUT/gpu_finetune-$setup-compile.log"
  done
fi

echo "## generate: Hugging Face GPT-2 (124M, random weights), bf16, 256 new tokens, greedy"
"$PYTHON" benchmarks/bench_generate.py --shape gpt2 --models hf --batch 1,8 --new-tokens 256 --device cuda \
  --precision bf16 --append-json "$OUT/gpu_generate.jsonl" 2>"$OUT/gpu_generate.log" | tail -n 4
