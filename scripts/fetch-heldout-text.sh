#!/usr/bin/env bash
# Fetches pinned Debian documentation packages and turns them into plain-text prose documents
# in data/heldout/ (git-ignored): the haystack text of the out-of-template evaluation suite.
#
# Why this text exists: the backbone was pretrained on data/corpus/ (scripts/fetch-data.sh) and
# the adapters were distilled on that corpus plus synthetic retrieval documents, so haystacks
# built from that corpus measure retrieval on text the models have seen. This text is held out
# of every training mix: no model in this project has been trained on it, and it has numbers and
# names of its own (Debian releases and codenames, policy section numbers, versions, dates) that
# give a needle's number distractors. It must NEVER be passed to `chunkllm pretrain` or
# `chunkllm train` (--data), nor mixed into any directory that is; a model that has seen it
# makes the out-of-template suite meaningless.
#
# Sources (Debian bookworm main, fetched with `apt-get download NAME=VERSION`, the only network
# used; every .deb is checked against the sha256 pinned below):
#   debian-handbook 11.20220922     The Debian Administrator's Handbook (en-US HTML pages)
#   debian-policy 4.6.2.0           Debian Policy Manual and upgrading checklist; FHS 3.0;
#                                   copyright-format 1.0, debconf, menu, perl, autopkgtest specs
#   developers-reference 12.18      Debian Developer's Reference (chapter pages)
#   debian-faq 11.1                 The Debian GNU/Linux FAQ (chapter pages)
#   gnu-standards 2022.03.23-0.1    GNU Coding Standards; Information for Maintainers of GNU
#                                   Software (both single-page HTML)
# If a pinned version has left the archive, `apt-get download` fails and names it: pick the
# new version (apt-cache policy NAME), check its text, and update the pin and sha256 here.
#
# Output:
#   data/heldout/<package>-<name>.txt   one document per file: a section of a book (with its
#                                       subsections), roughly 1-20 KB of prose
#   data/heldout/manifest.json   version, and per document: id, package, version, bytes,
#                                sha256, file, title
#   data/downloads/              verified .deb files, reused on later runs
#
# Text (details in scripts/heldout-to-text.mjs): plain UTF-8, "\n" line endings, one
# paragraph per line, paragraphs separated by a blank line; headings kept as paragraphs (with
# their section numbers); code blocks, tables, tables of contents, navigation, footnotes and
# paragraphs that are mostly non-letters (commands, paths, bare links) left out.
#
# Re-running is cheap: if data/heldout/manifest.json carries the current version string (pins +
# sha256 of the converter) and every file matches its recorded sha256, nothing is done.
# Otherwise the text is rebuilt in a temp directory under data/ and renamed into place.
# Usage: bash scripts/fetch-heldout-text.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."

# name version sha256-of-the-.deb (all are Architecture: all)
PINS=(
  "debian-handbook 11.20220922 3d5dbeac1f1afc9c094eab9d0f701f6ecff99c4927d5a4794cf6c85678134faa"
  "debian-policy 4.6.2.0 ef9d01b625c3b87c3a845c2cd1b66f1a16e9240b2b9e5bee53472a00e8457a39"
  "developers-reference 12.18 0dba82f6fa16e373f2a84ad07e7971aa9264ad2e7d2ae46b37edbc9c5fd57e2e"
  "debian-faq 11.1 427426e0cfa6888622fc1d72631071cb4b5a1f86ccde722e7820bcef284de5d0"
  "gnu-standards 2022.03.23-0.1 2087dda531c69d8505856a45e0334746f3f25211a237c95d375eed13a7d8c201"
)

CONVERTER="scripts/heldout-to-text.mjs"
OUT="data/heldout"
CACHE="data/downloads"
MIN_TOTAL_BYTES=1500000  # enough for 200 haystacks of 8K tokens with reuse

log() { echo "[fetch-heldout-text] $*"; }
die() { echo "[fetch-heldout-text] error: $*" >&2; exit 1; }

FORCE=0
case "${1:-}" in
  "") ;;
  --force) FORCE=1 ;;
  *) die "usage: bash scripts/fetch-heldout-text.sh [--force]" ;;
esac

command -v node >/dev/null 2>&1 || die "node not found (Node.js >= 18 is needed for $CONVERTER)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || die "Node.js >= 18 needed, found $(node --version)"
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (needed to unpack the .deb files; Debian/Ubuntu package dpkg)"

# The version string names everything the text is derived from: the pinned packages and the
# converter itself (which holds the page lists and the text rules). Any change to either makes
# the next run rebuild.
converter_sha=$(sha256sum "$CONVERTER" | cut -d' ' -f1)
VERSION="chunkllm-heldout-1"
for pin in "${PINS[@]}"; do
  read -r name ver sha <<<"$pin"
  VERSION+=" $name=$ver:$sha"
done
VERSION+=" converter=$converter_sha"

if [ "$FORCE" = 0 ] && [ -f "$OUT/manifest.json" ]; then
  rc=0
  summary=$(node "$CONVERTER" check --out "$OUT" --version "$VERSION") || rc=$?
  if [ "$rc" = 0 ]; then
    log "$OUT is up to date (documents and bytes per package):"
    echo "$summary"
    exit 0
  fi
  [ "$rc" = 3 ] || die "checking $OUT/manifest.json failed"
  log "$OUT is missing, outdated or modified: rebuilding"
fi

mkdir -p data "$CACHE"
# Everything temporary lives under data/ (same file system), so the final move is a rename.
WORK=$(mktemp -d data/.fetch-heldout.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# fetch_deb NAME VERSION SHA256: prints the path of the verified .deb in $CACHE.
fetch_deb() {
  local name=$1 ver=$2 sha=$3 deb dl got
  deb="$CACHE/${name}_${ver}_all.deb"
  [ -f "$deb" ] && [ "$(sha_of "$deb")" = "$sha" ] && { echo "$deb"; return; }
  command -v apt-get >/dev/null 2>&1 \
    || die "apt-get not found: cannot fetch $name=$ver (put the verified .deb at $deb to build without apt)"
  log "apt-get download $name=$ver" >&2
  dl=$(mktemp -d "$WORK/apt.XXXXXX")
  # apt-get download needs no root, but a fresh machine may have no package lists yet.
  # (Its output is shown only on failure: as root it warns that _apt cannot write here.)
  if ! (cd "$dl" && apt-get download -q "$name=$ver") >"$dl/log" 2>&1; then
    log "package lists lack $name=$ver; running apt-get update" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
    $sudo apt-get update -qq >&2 || true
    (cd "$dl" && apt-get download -q "$name=$ver") >"$dl/log" 2>&1 || {
      cat "$dl/log" >&2
      die "apt-get download $name=$ver failed (is Debian's apt repository reachable, and is version $ver still in it? see apt-cache policy $name)"
    }
  fi
  got=("$dl"/*.deb)
  [ -f "${got[0]}" ] || die "apt-get download $name=$ver produced no .deb file"
  local got_sha
  got_sha=$(sha_of "${got[0]}")
  [ "$got_sha" = "$sha" ] \
    || die "sha256 mismatch for $name=$ver (${got[0]##*/}): expected $sha, got $got_sha"
  mv "${got[0]}" "$deb"
  echo "$deb"
}

mkdir -p "$WORK/src"
pkg_args=()
for pin in "${PINS[@]}"; do
  read -r name ver sha <<<"$pin"
  deb=$(fetch_deb "$name" "$ver" "$sha")
  dpkg-deb -x "$deb" "$WORK/src/$name" || die "cannot unpack $name=$ver ($deb)"
  pkg_args+=(--pkg "$name=$ver=$WORK/src/$name")
done

log "converting to text (documents and bytes per package):"
node "$CONVERTER" build --out "$WORK/heldout" --version "$VERSION" "${pkg_args[@]}" \
  || die "conversion failed (see the message above)"
total=$(node -p "require('./$WORK/heldout/manifest.json').documents.reduce((a, d) => a + d.bytes, 0)")
[ "$total" -ge "$MIN_TOTAL_BYTES" ] \
  || die "only $total bytes of text were produced, expected at least $MIN_TOTAL_BYTES (empty or truncated output)"

# Swap the new text in; the old one (if any) is removed with $WORK.
[ -e "$OUT" ] && mv "$OUT" "$WORK/old-heldout"
mv "$WORK/heldout" "$OUT"
log "wrote $OUT ($total bytes); held out of all training: never pass it to chunkllm pretrain/train"
