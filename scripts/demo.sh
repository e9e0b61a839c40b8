#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds chunkllm and runs the main demo.
# For now: generation with a random-weight model in the demo backbone's shape (its weights are
# noise, so the text is too); the ChunkLLM demo on the trained backbone replaces it later.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh chunkllm
bin=build/bin/chunkllm
model=build/demo-random.gguf
if [ ! -f "$model" ]; then
  echo "[demo] writing a random-weight model ($model)"
  "$bin" mkmodel --shape demo --vocab third_party/llama.cpp/models/ggml-vocab-llama-spm.gguf -o "$model"
fi
"$bin" inspect "$model" | sed -n 1p   # sed reads it all: no SIGPIPE under pipefail
echo "[demo] chunkllm run (greedy, 64 tokens)"
"$bin" run -m "$model" -p "The State of the Union is" -n 64 --temp 0 -t "$(nproc)"
echo "[demo] chunkllm bench --ref (ours vs libllama on the same file)"
"$bin" bench -m "$model" -p 512 -n 64 -r 3 --ref -t "$(nproc)"
