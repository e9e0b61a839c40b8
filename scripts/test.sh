#!/usr/bin/env bash
# Sets up a fresh Debian machine (packages, pinned llama.cpp), builds everything including the
# ASan+UBSan binary, and runs the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
