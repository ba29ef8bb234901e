#!/usr/bin/env bash
# Build libaom's aomenc, aomdec and inspect (CONFIG_INSPECTION=1, SIMD via nasm) from
# Debian's pinned source package plus our own patches, into a cache directory keyed by the
# pinned source and the patch set. A second run with the same key returns in well under a second.
#
# Usage: third_party/libaom/build.sh            builds if needed; prints the build directory
#        third_party/libaom/build.sh --check    prints it if built, else exits 1 (never builds)
#        ... --unpatched                        the same without our patches (a reference
#                                               build: tests compare bitstreams against it)
#        ... --print-deb-src [ROOT]             prints the deb-src entries the build would add
#                                               to apt, derived from ROOT/etc/apt (default /)
# Env:   AV1TOOLS_CACHE   cache root (default: ${XDG_CACHE_HOME:-~/.cache}/av1tools)
#        AV1TOOLS_JOBS    parallel build jobs (default: nproc)
set -euo pipefail

AOM_VERSION=3.6.0
# The security pocket's newer revision (deb12u3) answered 404 for its .dsc/orig, so pin u2.
DEB_VERSION=3.6.0-1+deb12u2
DEB_SUITE=bookworm   # the release DEB_VERSION belongs to (deb12)
ORIG_SHA256=2ba213822cb1528b5558d6727125654e14d1b2d7505bd1fc8afa36c2e9e9f94a
CMAKE_FLAGS=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DENABLE_TESTS=0 -DENABLE_DOCS=0
             -DENABLE_TOOLS=0 -DENABLE_EXAMPLES=1 -DCONFIG_INSPECTION=1)
TARGETS=(aomenc aomdec inspect)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
check=0
print_deb_src=0
apt_root=""
patches="$here/patches"
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check=1 ;;
    --unpatched) patches="" ;;
    --print-deb-src)
      print_deb_src=1
      if [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; then apt_root=$2; shift; fi ;;
    *) echo "usage: $0 [--check] [--unpatched] | --print-deb-src [ROOT]" >&2; exit 2 ;;
  esac
  shift
done
cache_root=${AV1TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/av1tools}
log() { printf '[libaom] %s\n' "$*" >&2; }

build_key() {
  # Everything that changes the binaries: pinned source, our patches, the build flags.
  {
    echo "$DEB_VERSION $ORIG_SHA256"
    printf '%s\n' "${CMAKE_FLAGS[@]}"
    for p in ${patches:+"$patches"/*.patch}; do
      [ -e "$p" ] || continue
      basename "$p"; cat "$p"
    done
  } | sha256sum | cut -c1-16
}

ensure_build_tools() {
  local missing=()
  command -v nasm >/dev/null || missing+=(nasm)
  command -v cmake >/dev/null || missing+=(cmake)
  command -v ninja >/dev/null || missing+=(ninja-build)
  command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
  command -v patch >/dev/null || missing+=(patch)
  command -v g++ >/dev/null || missing+=(g++)
  command -v perl >/dev/null || missing+=(perl)
  # Debian's series links the system libyuv instead of libaom's bundled copy.
  [ -f /usr/include/libyuv.h ] || missing+=(libyuv-dev)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing build tools: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: run 'sudo apt-get install ${missing[*]}' and retry"; exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

apt_source_files() {
  # The files apt reads its sources from, under the root directory $1 ("" for this machine).
  local f
  for f in "$1/etc/apt/sources.list" "$1"/etc/apt/sources.list.d/*.list "$1"/etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && printf '%s\n' "$f"
  done
  return 0
}

# A deb-src twin, as a deb822 stanza, of each enabled binary ("deb") source of DEB_SUITE's
# suites (bookworm, bookworm-updates, bookworm-security, ...) with the main component (aom's):
# the same URIs (a mirror or a local proxy stays in use), suites, components and signing
# options. Other suites are other releases or third-party archives (docker's "bookworm
# stable", say): no aom=$DEB_VERSION source there. Reads one-line files (sources.list,
# *.list) and deb822 files (*.sources).
DEB_SRC_AWK='
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function family(s) { return s == suite || index(s, suite "-") == 1 }
function family_suites(list,   n, i, w, out) {
  n = split(list, w)
  out = ""
  for (i = 1; i <= n; i++) if (family(w[i])) out = out (out == "" ? "" : " ") w[i]
  return out
}
function has_word(list, word,   n, i, w) {
  n = split(list, w)
  for (i = 1; i <= n; i++) if (w[i] == word) return 1
  return 0
}
function begin_stanza() { if (printed++) print ""; print "Types: deb-src" }
function option_field(key,   n, i, p, out) {
  # one-line option names are deb822 field names in lower case (sources.list(5))
  if (key == "pdiffs") return "PDiffs"
  if (key == "inrelease-path") return "InRelease-Path"
  n = split(key, p, "-")
  out = ""
  for (i = 1; i <= n; i++) out = out (i > 1 ? "-" : "") toupper(substr(p[i], 1, 1)) substr(p[i], 2)
  return out
}
function flush_stanza(   i, k, types, suites, components, enabled, keep) {
  types = ""; suites = ""; components = ""; enabled = "yes"
  for (i = 1; i <= nf; i++) {
    k = tolower(name[i])
    if (k == "types") types = value[i]
    else if (k == "suites") suites = value[i]
    else if (k == "components") components = value[i]
    else if (k == "enabled") enabled = tolower(trim(value[i]))
  }
  keep = family_suites(suites)
  if (enabled != "no" && has_word(types, "deb") && has_word(components, "main") && keep != "") {
    begin_stanza()
    for (i = 1; i <= nf; i++) {
      k = tolower(name[i])
      # binary-index-only fields are left out: they mean nothing to a source index
      if (k == "types" || k == "enabled" || k == "architectures" || k == "languages" || k == "targets") continue
      if (k == "suites") print name[i] ": " keep
      else print name[i] ":" raw[i]
    }
  }
  nf = 0
}
FNR == 1 { if (nf) flush_stanza(); deb822 = FILENAME ~ /\.sources$/ }
deb822 && /^#/ { next }
deb822 && /^[ \t]*$/ { if (nf) flush_stanza(); next }
deb822 && /^[ \t]/ { if (nf) { raw[nf] = raw[nf] "\n" $0; value[nf] = value[nf] " " $0 } next }
deb822 {
  c = index($0, ":")
  if (c == 0) next
  nf++
  name[nf] = substr($0, 1, c - 1)
  raw[nf] = substr($0, c + 1)
  value[nf] = raw[nf]
  next
}
{
  line = $0
  sub(/#.*/, "", line)
  if (split(line, w) < 3 || w[1] != "deb") next
  sub(/^[ \t]*deb[ \t]+/, "", line)
  options = ""
  if (substr(line, 1, 1) == "[") {
    e = index(line, "]")
    if (e == 0) next
    options = substr(line, 2, e - 2)
    line = substr(line, e + 1)
  }
  n = split(line, w)
  if (n < 3 || w[1] ~ /^cdrom:/ || !family(w[2])) next
  components = w[3]
  for (i = 4; i <= n; i++) components = components " " w[i]
  if (!has_word(components, "main")) next
  begin_stanza()
  print "URIs: " w[1]
  print "Suites: " w[2]
  print "Components: " components
  m = split(options, o)
  for (i = 1; i <= m; i++) {
    eq = index(o[i], "=")
    if (eq == 0) continue
    key = tolower(substr(o[i], 1, eq - 1))
    if (key ~ /[+-]$/ || key == "arch" || key == "lang" || key == "target") continue
    print option_field(key) ": " substr(o[i], eq + 1)
  }
}
END { if (nf) flush_stanza() }
'

deb_src_entries() {
  # -> the deb-src stanzas for the apt configuration under root $1 ("" for this machine)
  local files=()
  mapfile -t files < <(apt_source_files "$1")
  [ ${#files[@]} -gt 0 ] || return 0
  awk -v suite="$DEB_SUITE" "$DEB_SRC_AWK" "${files[@]}"
}

ensure_deb_src() {
  local files=()
  mapfile -t files < <(apt_source_files "")
  if [ ${#files[@]} -gt 0 ] && grep -qsE '^(Types:.*deb-src|deb-src )' "${files[@]}"; then
    return
  fi
  local entries target=/etc/apt/sources.list.d/av1tools-deb-src.sources
  entries=$(deb_src_entries "")
  if [ -z "$entries" ]; then
    log "no enabled deb source for $DEB_SUITE in /etc/apt to derive a deb-src entry from;"
    log "add a deb-src line for $DEB_SUITE (your mirror's) and retry"; exit 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: put these deb-src entries (from your own apt sources) in $target and retry:"
    printf '%s\n' "$entries" >&2; exit 1
  fi
  log "adding deb-src entries for $DEB_SUITE, from this machine's own apt sources, to $target"
  { echo "# Written by av1tools' libaom build (third_party/libaom/build.sh): the deb-src twins"
    echo "# of this machine's own $DEB_SUITE sources, to fetch Debian's aom source package."
    printf '%s\n' "$entries"; } >"$target"
  # an archive of the suite without source indexes fails its part of the update; the
  # Debian sources' part is what apt-get source needs, and it says so if that failed too
  apt-get update -qq >&2 || log "apt-get update reported errors; trying the source download anyway"
}

fetch_source() {
  # -> prints the unpacked, Debian-patched source tree
  local dl="$cache_root/libaom/download"
  local orig="$dl/aom_${AOM_VERSION}.orig.tar.gz"
  mkdir -p "$dl"
  if [ ! -f "$dl/aom_${DEB_VERSION}.dsc" ] || [ ! -f "$orig" ]; then
    ensure_deb_src
    log "downloading Debian source package aom=$DEB_VERSION"
    (cd "$dl" && apt-get source --download-only -qq "aom=$DEB_VERSION" >&2) || {
      log "apt-get source failed; try: apt-get update"; exit 1; }
  fi
  echo "$ORIG_SHA256  $orig" | sha256sum -c --quiet - >&2 || {
    log "sha256 mismatch for $orig"; rm -f "$orig"; exit 1; }
  local src="$1/aom-$AOM_VERSION"
  # dpkg-source applies Debian's quilt series (debian/patches) while unpacking.
  dpkg-source --no-check -x "$dl/aom_${DEB_VERSION}.dsc" "$src" >&2
  echo "$src"
}

apply_our_patches() {
  local src=$1
  for p in ${patches:+"$patches"/*.patch}; do
    [ -e "$p" ] || continue
    log "applying $(basename "$p")"
    patch -d "$src" -p1 --forward --quiet <"$p" >&2
  done
}

main() {
  local key out
  if [ "$print_deb_src" = 1 ]; then
    deb_src_entries "$apt_root"; return
  fi
  if [ -e "$cache_root" ] && [ ! -d "$cache_root" ]; then
    log "$cache_root: the av1tools cache (AV1TOOLS_CACHE or XDG_CACHE_HOME) is not a directory"; exit 1
  fi
  key=$(build_key)
  out="$cache_root/libaom/$key"
  if [ -f "$out/BUILD_OK" ]; then echo "$out"; return; fi
  if [ "$check" = 1 ]; then
    log "not built: run $0$([ -n "$patches" ] || echo " --unpatched")"; exit 1
  fi

  mkdir -p "$cache_root/libaom"
  exec 9>"$cache_root/libaom/.lock"
  flock 9   # two builds at once would fight over one download and cache entry
  if [ -f "$out/BUILD_OK" ]; then echo "$out"; return; fi

  ensure_build_tools
  work=$(mktemp -d "$cache_root/libaom/work.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  local src; src=$(fetch_source "$work")
  apply_our_patches "$src"
  log "configuring (key $key)"
  cmake -S "$src" -B "$work/build" "${CMAKE_FLAGS[@]}" >"$work/cmake.log" 2>&1 || {
    tail -30 "$work/cmake.log" >&2; exit 1; }
  log "building ${TARGETS[*]} (about 4 minutes on 2 cores)"
  ninja -C "$work/build" -j "${AV1TOOLS_JOBS:-$(nproc)}" "${TARGETS[@]}" >&2
  mkdir -p "$work/out/bin"
  for t in "${TARGETS[@]}"; do cp "$work/build/$t" "$work/out/bin/"; done
  cp "$work/build/config/aom_config.h" "$work/out/aom_config.h"
  printf 'version=%s\ndebian=%s\nkey=%s\n' "$AOM_VERSION" "$DEB_VERSION" "$key" >"$work/out/BUILD_OK"
  rm -rf "$out"
  mv "$work/out" "$out"   # appears whole or not at all
  log "built into $out"
  echo "$out"
}

main "$@"
