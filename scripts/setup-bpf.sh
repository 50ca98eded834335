#!/usr/bin/env bash
# Builds lookback's kernel capture: vmlinux.h from the running kernel's BTF (bpftool), the BPF objects (clang,
# CO-RE), and the N-API addon that loads them (node-gyp against the installed Node headers, linking libbpf).
# Idempotent: when the sources, the kernel's BTF, Node and clang are unchanged it does nothing; a build made on
# this machine before (even in another clone) is reused from the cache.
#   bash scripts/setup-bpf.sh            build if needed
#   bash scripts/setup-bpf.sh --force    rebuild
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BPF="$ROOT/bpf"
OUT="$BPF/build"
CACHE="${LOOKBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookback}/bpf"
BTF=/sys/kernel/btf/vmlinux
FORCE="${1:-}"

log() { echo "setup-bpf: $*"; }
die() { echo "setup-bpf: $*" >&2; exit 1; }

# Debian packages: build tools for the programs and the addon, and what the real-kernel tests and the bench run.
PACKAGES=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev build-essential pkg-config
  iproute2 iputils-ping socat nftables iptables dnsutils curl iperf3 python3 util-linux)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing packages: ${missing[*]} (install them as root: apt-get install -y ${missing[*]})"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } ||
    die "apt-get could not install ${missing[*]}"
fi

[[ -r $BTF ]] || die "the kernel has no BTF at $BTF: lookback's probe needs a kernel built with CONFIG_DEBUG_INFO_BTF=y"

# What each output depends on, hashed: the addon on its sources, records.h, Node's ABI, g++ and libbpf; the BPF
# objects on their sources and the kernel's types. Each part rebuilds only when its own inputs change.
btf_hash=$(sha256sum "$BTF" | cut -c1-16)
node_abi=$(node -p 'process.version + "-" + process.versions.modules')
addon_hash=$(cd "$ROOT" && {
  cat bpf/binding.gyp bpf/records.h bpf/addon/*
  echo "$node_abi"
  g++ --version | head -1
  dpkg-query -W -f='${Version}' libbpf-dev
} | sha256sum | cut -c1-16)
objects_hash=$(cd "$ROOT" && {
  cat bpf/*.h bpf/*.bpf.c
  echo "$btf_hash"
  clang --version | head -1
} | sha256sum | cut -c1-16)
ADDON="$OUT/Release/lookback_bpf.node"
OBJECTS=(flow drop tcp bench flow-reject)
mkdir -p "$OUT/obj" "$CACHE"

stamp_ok() { [[ $FORCE != --force ]] && [[ -f $1 ]] && [[ $(cat "$1") == "$2" ]]; }
objects_present() { for o in "${OBJECTS[@]}"; do [[ -f $OUT/obj/$o.bpf.o ]] || return 1; done; }

# The addon (first: node-gyp owns $OUT, its build directory, and must not wipe the objects compiled below).
ADDON_SAVED="$CACHE/addon-$addon_hash.node"
if stamp_ok "$OUT/.stamp-addon" "$addon_hash" && [[ -f $ADDON ]]; then
  log "addon up to date ($addon_hash)"
elif [[ $FORCE != --force ]] && [[ -f $ADDON_SAVED ]]; then
  log "reusing the addon built before ($ADDON_SAVED)"
  mkdir -p "$OUT/Release"
  cp "$ADDON_SAVED" "$ADDON"
  echo "$addon_hash" >"$OUT/.stamp-addon"
else
  NODE_GYP="$(npm root -g 2>/dev/null)/npm/node_modules/node-gyp/bin/node-gyp.js"
  [[ -f $NODE_GYP ]] || NODE_GYP="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  [[ -f $NODE_GYP ]] || die "node-gyp not found (it ships with npm); install npm, or node-gyp with npm install -g node-gyp"
  # Build against the headers of the Node that runs us (never a download): npm's nodedir, else the install prefix.
  NODEDIR="$(npm config get nodedir 2>/dev/null || true)"
  if [[ -z $NODEDIR || $NODEDIR == undefined || $NODEDIR == null || ! -f $NODEDIR/include/node/node_api.h ]]; then
    NODEDIR="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  fi
  [[ -f $NODEDIR/include/node/node_api.h ]] || die "Node's headers are not under $NODEDIR/include/node: install the nodejs package with its headers"
  [[ -d $ROOT/node_modules/node-addon-api ]] || die "node-addon-api is missing: run npm install in $ROOT"
  log "building the addon (node-gyp, nodedir=$NODEDIR)"
  (cd "$BPF" && node "$NODE_GYP" configure --nodedir="$NODEDIR" --loglevel=warn >/dev/null &&
    node "$NODE_GYP" build --nodedir="$NODEDIR" --loglevel=warn >"$OUT/addon-build.log" 2>&1) ||
    { tail -30 "$OUT/addon-build.log" >&2 2>/dev/null; die "the addon did not build (log: $OUT/addon-build.log)"; }
  node -e "require('$ADDON')" || die "the addon was built but does not load"
  cp "$ADDON" "$ADDON_SAVED.tmp" && mv "$ADDON_SAVED.tmp" "$ADDON_SAVED"
  echo "$addon_hash" >"$OUT/.stamp-addon"
  log "addon built ($addon_hash)"
fi

# The BPF objects, CO-RE against this kernel's types.
OBJ_SAVED="$CACHE/objects-$objects_hash"
if stamp_ok "$OUT/.stamp-objects" "$objects_hash" && objects_present; then
  log "BPF objects up to date ($objects_hash)"
elif [[ $FORCE != --force ]] && [[ -f $OBJ_SAVED/.complete ]]; then
  log "reusing the BPF objects built before ($OBJ_SAVED)"
  cp "$OBJ_SAVED"/*.bpf.o "$OUT/obj/"
  echo "$objects_hash" >"$OUT/.stamp-objects"
else
  # vmlinux.h: every kernel type, for CO-RE. Generated once per kernel BTF.
  VMLINUX="$CACHE/vmlinux-$btf_hash.h"
  if [[ ! -s $VMLINUX ]]; then
    log "generating vmlinux.h from $BTF"
    bpftool btf dump file "$BTF" format c >"$VMLINUX.tmp"
    mv "$VMLINUX.tmp" "$VMLINUX"
  fi
  cp "$VMLINUX" "$OUT/vmlinux.h"
  CFLAGS=(-g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -I"$OUT" -I"$BPF" -Wall -Werror)
  for prog in flow drop tcp bench; do
    log "compiling $prog.bpf.c"
    clang "${CFLAGS[@]}" -c "$BPF/$prog.bpf.c" -o "$OUT/obj/$prog.bpf.o"
  done
  # Only for the test that checks how a verifier rejection is reported.
  clang "${CFLAGS[@]}" -DLB_TEST_REJECT -c "$BPF/flow.bpf.c" -o "$OUT/obj/flow-reject.bpf.o"
  rm -rf "$OBJ_SAVED.tmp" && mkdir -p "$OBJ_SAVED.tmp"
  cp "$OUT"/obj/*.bpf.o "$OBJ_SAVED.tmp/"
  touch "$OBJ_SAVED.tmp/.complete"
  rm -rf "$OBJ_SAVED" && mv "$OBJ_SAVED.tmp" "$OBJ_SAVED"
  echo "$objects_hash" >"$OUT/.stamp-objects"
  log "BPF objects built ($objects_hash)"
fi

# Keep the cache small: the five newest builds of each part, the three newest kernels' vmlinux.h.
prune() { ls -1td "$@" 2>/dev/null | tail -n +"$KEEP" | xargs -r rm -rf; }
KEEP=6 prune "$CACHE"/addon-*.node
KEEP=6 prune "$CACHE"/objects-*
KEEP=4 prune "$CACHE"/vmlinux-*.h
