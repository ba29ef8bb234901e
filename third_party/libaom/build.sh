#!/usr/bin/env bash
# Build libaom's aomenc, aomdec and inspect (CONFIG_INSPECTION=1, SIMD via nasm) from
# Debian's pinned source package plus our own patches, into a cache directory keyed by the
# pinned source and the patch set. A second run with the same key returns in well under a second.
#
# Usage: third_party/libaom/build.sh            builds if needed; prints the build directory
#        third_party/libaom/build.sh --check    prints it if built, else exits 1 (never builds)
#        ... --unpatched                        the same without our patches (a reference
#                                               build: tests compare bitstreams against it)
# Env:   AV1TOOLS_CACHE   cache root (default: ${XDG_CACHE_HOME:-~/.cache}/av1tools)
#        AV1TOOLS_JOBS    parallel build jobs (default: nproc)
set -euo pipefail

AOM_VERSION=3.6.0
# The security pocket's newer revision (deb12u3) answered 404 for its .dsc/orig, so pin u2.
DEB_VERSION=3.6.0-1+deb12u2
ORIG_SHA256=2ba213822cb1528b5558d6727125654e14d1b2d7505bd1fc8afa36c2e9e9f94a
CMAKE_FLAGS=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DENABLE_TESTS=0 -DENABLE_DOCS=0
             -DENABLE_TOOLS=0 -DENABLE_EXAMPLES=1 -DCONFIG_INSPECTION=1)
TARGETS=(aomenc aomdec inspect)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
check=0
patches="$here/patches"
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    --unpatched) patches="" ;;
    *) echo "usage: $0 [--check] [--unpatched]" >&2; exit 2 ;;
  esac
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

ensure_deb_src() {
  if grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return
  fi
  log "adding a deb-src entry for bookworm"
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: add a deb-src line for bookworm to /etc/apt/sources.list and retry"; exit 1
  fi
  cat >/etc/apt/sources.list.d/av1tools-deb-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -qq >&2
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
