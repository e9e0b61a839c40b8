#!/usr/bin/env bash
# Installs the Debian packages the build needs (when missing) and fetches the pinned
# llama.cpp source (ggml + libllama) from the npm package node-llama-cpp, checked by sha256.
# The checkout lands in third_party/llama.cpp (git-ignored); nothing of it is committed.
# It also fetches the official `openai` npm client (pinned, sha256-checked; no dependencies)
# into third_party/openai-node/node_modules/openai, which a `chunkllm serve` test drives
# (CHUNKLLM_OPENAI_NODE_DIR=DIR puts it elsewhere; configure with the same -DCHUNKLLM_OPENAI_NODE_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_NPM_PKG="node-llama-cpp@3.22.1"
LLAMA_NPM_SHA256="a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f"
LLAMA_COMMIT_PREFIX="de3ff81"
DEST="third_party/llama.cpp"
OPENAI_NPM_PKG="openai@5.23.2"
OPENAI_NPM_SHA256="a2aa74ff8be1a80a215af201a3d2228e999464d166c1eaec2c9ca313395fbef1"
OPENAI_DEST="${CHUNKLLM_OPENAI_NODE_DIR:-third_party/openai-node}"

APT_PACKAGES=(g++ cmake ninja-build git ca-certificates libcli11-dev nlohmann-json3-dev
              libcpp-httplib-dev libgtest-dev libgmock-dev libtorch-dev libopenblas0-pthread
              librsvg2-bin)  # rsvg-convert: the plot tests render every plot kind

# scripts/fuzz.sh (--fuzz): clang and its libFuzzer / sanitizer runtimes, pinned to Debian 12's.
if [ "${1:-}" = "--fuzz" ]; then
  APT_PACKAGES+=(clang-14=1:14.0.6-12 libclang-rt-14-dev=1:14.0.6-12)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  name=${p%%=*}
  if [ "$name" != "$p" ]; then  # pinned: the installed version must be the pin
    [ "$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null)" = "install ok installed ${p#*=}" ] || missing+=("$p")
  else
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  fi
done
# npm comes with the machine's Node.js; Debian's npm (and nodejs, which it depends on) is only the
# fallback. node runs the openai client of the serve tests.
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[fetch-deps] installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# fetch_npm PKG SHA256 OUT_DIR: `npm pack` PKG, check its sha256, unpack its package/ into OUT_DIR.
fetch_npm() {
  local tmp_npm got
  tmp_npm=$(mktemp -d)
  echo "[fetch-deps] npm pack $1"
  (cd "$tmp_npm" && npm pack --silent "$1" >/dev/null)
  got=$(sha256sum "$tmp_npm"/*.tgz | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "[fetch-deps] error: sha256 of $1 is $got, expected $2" >&2
    rm -rf "$tmp_npm"
    exit 1
  fi
  rm -rf "$3"
  mkdir -p "$3"
  tar -xzf "$tmp_npm"/*.tgz -C "$3" --strip-components=1
  echo "$2" > "$3/.chunkllm-pinned"
  rm -rf "$tmp_npm"
}

OPENAI_MODULE="$OPENAI_DEST/node_modules/openai"
if [ -f "$OPENAI_MODULE/.chunkllm-pinned" ] && [ "$(cat "$OPENAI_MODULE/.chunkllm-pinned")" = "$OPENAI_NPM_SHA256" ]; then
  echo "[fetch-deps] $OPENAI_MODULE is at the pinned version"
else
  fetch_npm "$OPENAI_NPM_PKG" "$OPENAI_NPM_SHA256" "$OPENAI_MODULE"
fi

if [ -f "$DEST/.chunkllm-pinned" ] && [ "$(cat "$DEST/.chunkllm-pinned")" = "$LLAMA_NPM_SHA256" ]; then
  echo "[fetch-deps] $DEST is at the pinned version"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "[fetch-deps] npm pack $LLAMA_NPM_PKG"
(cd "$tmp" && npm pack --silent "$LLAMA_NPM_PKG" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$LLAMA_NPM_SHA256" ]; then
  echo "[fetch-deps] error: sha256 of $tgz is $got, expected $LLAMA_NPM_SHA256" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/llama/gitRelease.bundle
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
git -c advice.detachedHead=false clone -q "$tmp/package/llama/gitRelease.bundle" "$DEST"
head=$(git -C "$DEST" rev-parse --short=7 HEAD)
if [ "$head" != "$LLAMA_COMMIT_PREFIX" ]; then
  echo "[fetch-deps] error: bundle HEAD is $head, expected $LLAMA_COMMIT_PREFIX" >&2
  exit 1
fi
echo "$LLAMA_NPM_SHA256" > "$DEST/.chunkllm-pinned"
echo "[fetch-deps] llama.cpp $head checked out in $DEST"
