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
# sha256 of the converter and of the module it imports) and every file matches its recorded
# sha256, nothing is done.
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
TAG="fetch-heldout-text"
# shellcheck source=lib/fetch-common.sh
source scripts/lib/fetch-common.sh
MIN_TOTAL_BYTES=1500000  # enough for 200 haystacks of 8K tokens with reuse

parse_force "$@"
need_node
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (needed to unpack the .deb files; Debian/Ubuntu package dpkg)"

# The version string names everything the text is derived from: the pinned packages and the
# converter itself (which holds the page lists and the text rules). Any change to either makes
# the next run rebuild.
converter_sha=$(sha_of "$CONVERTER")
# The converter imports its command line, manifest and file writing from this module: hash it too.
lib_sha=$(sha_of scripts/lib/text-convert.mjs)
VERSION="chunkllm-heldout-1"
for pin in "${PINS[@]}"; do
  read -r name ver sha <<<"$pin"
  VERSION+=" $name=$ver:$sha"
done
VERSION+=" converter=$converter_sha lib=$lib_sha"

exit_if_up_to_date "$VERSION" "documents and bytes per package"
make_work fetch-heldout

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

swap_in "$WORK/heldout"
log "wrote $OUT ($total bytes); held out of all training: never pass it to chunkllm pretrain/train"
