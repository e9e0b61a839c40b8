#!/usr/bin/env bash
# Installs what the build needs (scripts/fetch-deps.sh), configures and builds into build/.
# Usage: scripts/build.sh [cmake target...]   (default: everything)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-deps.sh
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHUNKLLM_SANITIZE=ON
fi
cmake --build build -j"$(nproc)" ${1:+--target "$@"}
