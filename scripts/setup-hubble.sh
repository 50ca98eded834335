#!/usr/bin/env bash
# Builds the real `hubble` CLI (Cilium's, unmodified) from the Go module proxy into the machine-wide cache, once.
# Tests use it as the strongest proof that lookback's Observer API is Hubble's: `hubble observe --server ...`.
# Optional: lookback works without it, and the tests that need it are reported as skipped when it is absent.
#
# Why a build from source: the hubble CLI lives in github.com/cilium/cilium/hubble, and that module's go.mod has a
# replace directive, so `go install ...@version` refuses it. We copy the module source out of the module cache and
# `go build ./hubble` inside it. HUBBLE_VERSION=... overrides the pinned Cilium version.
set -euo pipefail

HUBBLE_VERSION="${HUBBLE_VERSION:-v1.20.2}"
cache="${LOOKBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookback}"
dest="$cache/hubble-$HUBBLE_VERSION"
bin="$dest/hubble"

if [[ -x "$bin" ]] && "$bin" version 2>/dev/null | grep -q "hubble $HUBBLE_VERSION"; then
  echo "hubble: $("$bin" version 2>/dev/null | head -n 1) already in $bin"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "hubble: go not found; install Go 1.24+ to build the hubble CLI (optional: its tests are skipped without it)" >&2
  exit 0
fi

mkdir -p "$dest"
log="$dest/build.log"
echo "hubble: fetching github.com/cilium/cilium@$HUBBLE_VERSION from the Go module proxy"
src_dir=$(go mod download -json "github.com/cilium/cilium@$HUBBLE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
if [[ -z "$src_dir" || ! -d "$src_dir/hubble" ]]; then
  echo "hubble: github.com/cilium/cilium@$HUBBLE_VERSION has no hubble/ folder (module dir: ${src_dir:-none})" >&2
  exit 1
fi

work="$dest/src"
rm -rf "$work"
cp -r "$src_dir" "$work"
chmod -R u+w "$work"
echo "hubble: building ./hubble (log: $log; the first build downloads its dependencies and takes a few minutes)"
# -mod=mod: module zips carry no vendor/ folder. GOFLAGS from the environment would not override -mod here.
if ! (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -X github.com/cilium/cilium/hubble/pkg.Version=$HUBBLE_VERSION" -o "$bin.tmp" ./hubble) >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "hubble: the build failed (full log: $log)" >&2
  rm -f "$bin.tmp"
  exit 1
fi
mv "$bin.tmp" "$bin"
rm -rf "$work"
echo "hubble: ready: $("$bin" version 2>/dev/null | head -n 1) at $bin"
