#!/usr/bin/env bash
# Sets up a fresh Debian machine (packages, pinned llama.cpp), builds everything including the
# ASan+UBSan binary, runs the whole test suite with ctest, then the bounded fuzz run.
# Arguments go to ctest. CHUNKLLM_FUZZ_CI=0 leaves out the fuzz run (local runs of ctest only).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
# The libFuzzer harnesses built with clang in build-fuzz/ (a tree of their own: everything in it,
# ggml and libllama included, is instrumented) and run a fixed number of executions each from a
# fixed seed (scripts/fuzz.sh --ci); a crash, sanitizer report, leak or timeout fails the suite.
if [ "${CHUNKLLM_FUZZ_CI:-1}" != 0 ]; then
  bash scripts/fuzz.sh --ci
fi
