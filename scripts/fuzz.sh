#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/) with clang into build-fuzz/ and runs each for a
# bounded time from its seed corpus, with a fixed seed. Fuzz runs are not tests: the test suite
# replays the seeds and every input that once crashed (tests/fuzz/regressions/).
#
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]   SECONDS per harness (default 60); harnesses:
#                                                 model_gguf adapter_gguf task_jsonl prompt completion_request
#        scripts/fuzz.sh --seeds                  rewrite the seed corpus in tests/fuzz/corpus/
# Env:   FUZZ_SEED (default 1), FUZZ_ARGS (more libFuzzer flags, e.g. -runs=10000000).
# Output: build-fuzz/corpus/HARNESS/ (the grown corpus), build-fuzz/findings/HARNESS/
#         (crash-*, leak-*, timeout-*, oom-* inputs), build-fuzz/logs/HARNESS.log. Exits non-zero
#         when a harness found something.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-deps.sh --fuzz

if [ ! -f build-fuzz/build.ninja ]; then
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHUNKLLM_FUZZ=ON \
        -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 ${CHUNKLLM_LLAMA_DIR:+-DCHUNKLLM_LLAMA_DIR="$CHUNKLLM_LLAMA_DIR"}
fi
ALL=(model_gguf adapter_gguf task_jsonl prompt completion_request)

if [ "${1:-}" = "--seeds" ]; then
  cmake --build build-fuzz -j"$(nproc)" --target chunkllm-fuzz-seeds
  rm -rf tests/fuzz/corpus
  build-fuzz/bin/chunkllm-fuzz-seeds tests/fuzz/corpus .
  find tests/fuzz/corpus -type f | sort
  exit 0
fi

SECONDS_EACH=${1:-60}
shift || true
HARNESSES=("$@")
[ ${#HARNESSES[@]} -eq 0 ] && HARNESSES=("${ALL[@]}")
targets=()
for h in "${HARNESSES[@]}"; do targets+=("fuzz_$h"); done
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for h in "${HARNESSES[@]}"; do
  mkdir -p "build-fuzz/corpus/$h" "build-fuzz/findings/$h" build-fuzz/logs
  echo "[fuzz] $h for ${SECONDS_EACH}s (seed ${FUZZ_SEED:-1})"
  # -rss_limit_mb also caps any single allocation (malloc_limit_mb defaults to it): a reader
  # that allocates what a file's numbers ask for, before checking them, is a finding.
  if ! "build-fuzz/bin/fuzz_$h" "build-fuzz/corpus/$h" "tests/fuzz/corpus/$h" \
        -seed="${FUZZ_SEED:-1}" -max_total_time="$SECONDS_EACH" -max_len=131072 -timeout=20 \
        -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="build-fuzz/findings/$h/" \
        ${FUZZ_ARGS:-} > "build-fuzz/logs/$h.log" 2>&1; then
    echo "[fuzz] $h: FOUND something, see build-fuzz/logs/$h.log and build-fuzz/findings/$h/" >&2
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "build-fuzz/logs/$h.log" || true
done
exit $status
