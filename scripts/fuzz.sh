#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/) with clang into build-fuzz/ (only the harnesses
# and what they link) and runs them with a fixed seed. Three kinds of run:
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]  each harness SECONDS (default 60), growing its corpus
#   scripts/fuzz.sh --ci [HARNESS...]       the bounded run scripts/test.sh makes: each harness a
#                                           fixed number of executions (CI_RUNS below) from the
#                                           seed corpus and the regressions, seed 1, in a fresh
#                                           corpus, so the same tree gives the same run
#   scripts/fuzz.sh --until N [HARNESS...]  resumable long run: slices of at most FUZZ_SLICE
#                                           executions (default 1,000,000), each from the kept
#                                           corpus with a seed of its own, until each harness has
#                                           N executions in all; stop it any time and start it
#                                           again (a slice cut short is not counted)
#   scripts/fuzz.sh --seeds                 rewrite the seed corpus in tests/fuzz/corpus/
#
# Harnesses: model_gguf adapter_gguf task_jsonl prompt completion_request (default: all).
# Env: FUZZ_SEED (default 1), FUZZ_ARGS (more libFuzzer flags), FUZZ_SLICE.
# Output: build-fuzz/corpus/HARNESS/ (the grown corpus), build-fuzz/findings/HARNESS/
#         (crash-*, leak-*, timeout-*, oom-* inputs), build-fuzz/logs/HARNESS.log (the last run),
#         build-fuzz/execs/HARNESS (executions counted by --until). Exits non-zero when a harness
#         found something: a crash, a sanitizer report, a leak, a timeout or an allocation
#         beyond -rss_limit_mb. Fuzz runs are not tests: the test suite replays the seeds and
#         every input that once crashed (tests/fuzz/regressions/).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(model_gguf adapter_gguf task_jsonl prompt completion_request)
# --ci: executions per harness, 17-38 s each and ~100 s in all on this project's 2-vCPU machine
# (README, "Hostile input and fuzzing").
declare -A CI_RUNS=([model_gguf]=40000 [adapter_gguf]=50000 [task_jsonl]=300000 [prompt]=20000
                   [completion_request]=200000)

mode=time
case "${1:-}" in
  --seeds) mode=seeds; shift ;;
  --ci) mode=ci; shift ;;
  --until) mode=until; TOTAL=${2:?--until needs a number of executions}; shift 2 ;;
  [0-9]*) SECONDS_EACH=$1; shift ;;
esac
HARNESSES=("$@")
[ ${#HARNESSES[@]} -eq 0 ] && HARNESSES=("${ALL[@]}")

bash scripts/fetch-deps.sh --fuzz
if [ ! -f build-fuzz/build.ninja ]; then
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHUNKLLM_FUZZ=ON \
        -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 ${CHUNKLLM_LLAMA_DIR:+-DCHUNKLLM_LLAMA_DIR="$CHUNKLLM_LLAMA_DIR"}
fi

if [ "$mode" = seeds ]; then
  cmake --build build-fuzz -j"$(nproc)" --target chunkllm-fuzz-seeds
  rm -rf tests/fuzz/corpus
  build-fuzz/bin/chunkllm-fuzz-seeds tests/fuzz/corpus .
  find tests/fuzz/corpus -type f | sort
  exit 0
fi

targets=()
for h in "${HARNESSES[@]}"; do targets+=("fuzz_$h"); done
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p build-fuzz/logs build-fuzz/execs

# One libFuzzer run of harness $1 with the flags every run shares and the rest of the arguments
# (corpus folders first, then flags); its log goes to build-fuzz/logs/$1.log. Non-zero when it
# found something. -rss_limit_mb also caps any single allocation (malloc_limit_mb defaults to
# it): a reader that allocates what a file's numbers ask for before checking them is a finding.
run_harness() {
  local h=$1
  shift
  mkdir -p "build-fuzz/findings/$h"
  "build-fuzz/bin/fuzz_$h" "$@" -max_len=131072 -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/findings/$h/" ${FUZZ_ARGS:-} > "build-fuzz/logs/$h.log" 2>&1
}
executed() { sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/logs/$1.log" | tail -1; }
found() {
  echo "[fuzz] $1: FOUND something, see build-fuzz/logs/$1.log and build-fuzz/findings/$1/" >&2
  grep -E "^(==[0-9]+==ERROR|SUMMARY|.*runtime error)" "build-fuzz/logs/$1.log" | head -5 >&2 || true
}
regressions() { [ -d "tests/fuzz/regressions/$1" ] && echo "tests/fuzz/regressions/$1"; return 0; }

status=0
for h in "${HARNESSES[@]}"; do
  case $mode in
    time)
      mkdir -p "build-fuzz/corpus/$h"
      echo "[fuzz] $h for ${SECONDS_EACH:-60}s (seed ${FUZZ_SEED:-1})"
      run_harness "$h" "build-fuzz/corpus/$h" "tests/fuzz/corpus/$h" -seed="${FUZZ_SEED:-1}" \
          -max_total_time="${SECONDS_EACH:-60}" || { found "$h"; status=1; }
      grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "build-fuzz/logs/$h.log" || true
      ;;
    ci)
      corpus=$(mktemp -d)
      start=$SECONDS
      # (-max_total_time: on a much slower machine a harness stops after 10 minutes, with the
      # executions it made reported below, rather than stall CI.)
      run_harness "$h" "$corpus" "tests/fuzz/corpus/$h" $(regressions "$h") -seed="${FUZZ_SEED:-1}" \
          -runs="${CI_RUNS[$h]}" -max_total_time=600 || { found "$h"; status=1; }
      rm -rf "$corpus"
      echo "[fuzz] $h: $(executed "$h") executions in $((SECONDS - start)) s (seed ${FUZZ_SEED:-1})"
      ;;
    until)
      mkdir -p "build-fuzz/corpus/$h"
      count=$(cat "build-fuzz/execs/$h" 2>/dev/null || echo 0)
      while [ "$count" -lt "$TOTAL" ]; do
        slice=$((TOTAL - count < ${FUZZ_SLICE:-1000000} ? TOTAL - count : ${FUZZ_SLICE:-1000000}))
        # A seed per slice: a resumed run does not repeat the mutations of the one before.
        seed=$((${FUZZ_SEED:-1} + count))
        start=$SECONDS
        if ! run_harness "$h" "build-fuzz/corpus/$h" "tests/fuzz/corpus/$h" -seed="$seed" -runs="$slice"; then
          found "$h"
          status=1
          break
        fi
        count=$((count + $(executed "$h")))
        echo "$count" > "build-fuzz/execs/$h"
        echo "[fuzz] $h: $count of $TOTAL executions ($(executed "$h") in $((SECONDS - start)) s, seed $seed," \
             "corpus $(find "build-fuzz/corpus/$h" -type f | wc -l) inputs)"
      done
      ;;
  esac
done
exit $status
