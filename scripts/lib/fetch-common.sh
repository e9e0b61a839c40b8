# What scripts/fetch-data.sh and scripts/fetch-heldout-text.sh share: messages, Node.js, the
# up-to-date check of an output folder against a version string, a scratch folder under data/,
# and pinned downloads (npm pack, apt-get download) checked against their sha256 and kept in
# $CACHE. Sourced, not run. The sourcing script sets first:
#   TAG        the prefix of its messages, e.g. fetch-data
#   CONVERTER  its Node.js converter (build and check subcommands)
#   OUT        the folder it writes; CACHE  the folder downloads are kept in
# and, before calling fetch_*, WORK (from make_work).

log() { echo "[$TAG] $*"; }
die() { echo "[$TAG] error: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# parse_force "$@": FORCE=1 with --force, 0 without; anything else is a usage error.
parse_force() {
  FORCE=0
  case "${1:-}" in
    "") ;;
    --force) FORCE=1 ;;
    *) die "usage: bash scripts/$TAG.sh [--force]" ;;
  esac
}

need_node() {
  command -v node >/dev/null 2>&1 || die "node not found (Node.js >= 18 is needed for $CONVERTER)"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 18 ] || die "Node.js >= 18 needed, found $(node --version)"
}

# exit_if_up_to_date VERSION WHAT: unless FORCE, stops the script (exit 0) when $OUT's manifest
# carries VERSION and every file matches it, printing the converter's summary (WHAT names its
# columns); otherwise says why it rebuilds.
exit_if_up_to_date() {
  [ "$FORCE" = 0 ] && [ -f "$OUT/manifest.json" ] || return 0
  local rc=0 summary
  summary=$(node "$CONVERTER" check --out "$OUT" --version "$1") || rc=$?
  if [ "$rc" = 0 ]; then
    log "$OUT is up to date ($2):"
    echo "$summary"
    exit 0
  fi
  [ "$rc" = 3 ] || die "checking $OUT/manifest.json failed"
  log "$OUT is missing, outdated or modified: rebuilding"
}

# make_work NAME: WORK, a scratch folder under data/ (the same file system as $OUT, so the final
# moves are renames), removed when the script exits.
make_work() {
  mkdir -p data "$CACHE"
  WORK=$(mktemp -d "data/.$1.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
}

# swap_in NEW: NEW becomes $OUT; the old $OUT (if any) goes with $WORK.
swap_in() {
  [ -e "$OUT" ] && mv "$OUT" "$WORK/old-output"
  mv "$1" "$OUT"
}

# cached FILE SHA256: true if FILE is already in the cache with that sha256.
cached() { [ -f "$1" ] && [ "$(sha_of "$1")" = "$2" ]; }

# keep_download DIR EXT SHA256 WHAT DEST: checks the one *.EXT file a download left in DIR
# against SHA256 and moves it to DEST in the cache.
keep_download() {
  local got=("$1"/*."$2") got_sha
  [ -f "${got[0]}" ] || die "$4 produced no .$2 file"
  got_sha=$(sha_of "${got[0]}")
  [ "$got_sha" = "$3" ] || die "sha256 of $4 (${got[0]##*/}) is $got_sha, expected $3"
  mv "${got[0]}" "$5"
}

# fetch_npm PKG@VERSION SHA256: prints the path of the verified tarball in $CACHE.
fetch_npm() {
  local pkg=$1 sha=$2 name tgz dl
  command -v npm >/dev/null 2>&1 || die "npm not found (needed for npm pack $pkg)"
  name=${pkg#@}; name=${name%@*}; name=${name//\//-}
  tgz="$CACHE/$name-${pkg##*@}.tgz"
  cached "$tgz" "$sha" && { echo "$tgz"; return; }
  log "npm pack $pkg" >&2
  dl=$(mktemp -d "$WORK/npm.XXXXXX")
  (cd "$dl" && npm pack --silent "$pkg" >/dev/null) \
    || die "npm pack $pkg failed (is the npm registry reachable?)"
  keep_download "$dl" tgz "$sha" "npm pack $pkg" "$tgz"
  echo "$tgz"
}

# fetch_deb NAME VERSION SHA256 [HINT]: prints the path of the verified .deb (Architecture: all)
# in $CACHE; HINT is added to the message when it cannot be had.
fetch_deb() {
  local name=$1 ver=$2 sha=$3 hint=${4:-} deb dl
  deb="$CACHE/${name}_${ver}_all.deb"
  cached "$deb" "$sha" && { echo "$deb"; return; }
  command -v apt-get >/dev/null 2>&1 \
    || die "apt-get not found: cannot fetch $name=$ver (put the verified .deb at $deb${hint:+; $hint})"
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
      die "apt-get download $name=$ver failed (is Debian's apt repository reachable, and is version $ver still in it? see apt-cache policy $name${hint:+; $hint})"
    }
  fi
  keep_download "$dl" deb "$sha" "apt-get download $name=$ver" "$deb"
  echo "$deb"
}
