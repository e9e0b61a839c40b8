#!/usr/bin/env bash
# Trains (or resumes) the bundled demo backbone. Long: run it in the background; it writes a
# checkpoint every 5 minutes and resumes exactly from the last one when started again.
# The budget (5M tokens, about 1.6 h on 2 cores) fits one working session, whose end wipes
# everything outside the repository, checkpoints included.
#   STATE=/work/state/pretrain bash scripts/pretrain-backbone.sh   # then: tail -f $STATE/log
# When it finishes, $STATE/backbone.gguf (+ .train.json) is the model to ship in models/.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${STATE:-/work/state/pretrain}
BIN=${BIN:-build/bin/chunkllm}
mkdir -p "$STATE"
[ -d data/corpus/train ] || bash scripts/fetch-data.sh
resume=""
[ -f "$STATE/backbone.gguf.ckpt" ] && resume="--resume"
exec "$BIN" pretrain --vocab third_party/llama.cpp/models/ggml-vocab-llama-spm.gguf \
  --data data/corpus/train --val data/corpus/validation -o "$STATE/backbone.gguf" \
  --n-embd 384 --n-layer 8 --n-head 6 --n-head-kv 2 --head-dim 64 --n-ff 1024 --ctx-train 4096 \
  --tokens 5000000 --schedule 512x8:0.4,1024x4:0.2,2048x2:0.2,4096x1:0.2 --synthetic 0.3 \
  --lr 1e-3 --min-lr 1e-4 --warmup 200 --seed 1 --checkpoint-minutes 5 -t 2 $resume
