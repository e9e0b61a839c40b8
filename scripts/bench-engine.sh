#!/usr/bin/env bash
# The engine benchmark of docs/benchmarks.md: ours vs libllama (same file, same process,
# same threads) on random-weight f16 models of the Qwen2.5-0.5B shape and the demo-backbone
# shape, pp512 and tg128 at depths 0 and 4096. Writes build/bench-*.{json,md}.
# A background pretraining job, if any, is paused (SIGSTOP) for the duration: two jobs
# fighting for 2 cores would measure the scheduler, not the engines.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin/chunkllm
mkdir -p build/bench-models
v=third_party/llama.cpp/models
[ -f build/bench-models/qwen2.5-0.5b-shape-f16.gguf ] ||
  "$bin" mkmodel --shape qwen2.5-0.5b --vocab $v/ggml-vocab-qwen2.gguf -o build/bench-models/qwen2.5-0.5b-shape-f16.gguf
[ -f build/bench-models/demo-shape-f16.gguf ] ||
  "$bin" mkmodel --shape demo --vocab $v/ggml-vocab-llama-spm.gguf -o build/bench-models/demo-shape-f16.gguf
paused=$(pgrep -f "chunkllm.* pretrain" || true)
[ -n "$paused" ] && kill -STOP $paused
trap '[ -n "$paused" ] && kill -CONT $paused' EXIT
lscpu | grep -E "Model name|^CPU\(s\)"
for m in demo-shape qwen2.5-0.5b-shape; do
  "$bin" bench -m build/bench-models/$m-f16.gguf -p 512 -n 128 -d 0,4096 -r 10 -t 2 --ref \
    --out-file build/bench-$m.json | tee build/bench-$m.md
done
