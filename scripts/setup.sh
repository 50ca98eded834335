#!/usr/bin/env bash
# The one setup step both README commands run. Idempotent: each step checks before it acts, so a second run with
# nothing changed takes a few seconds. Installs only what lookback needs on a Debian/Ubuntu machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOKBACK_CACHE="${LOOKBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookback}"
mkdir -p "$LOOKBACK_CACHE"
step() { printf 'setup: %s\n' "$*"; }

# --- Node: lookback needs Node >= 20 (Debian's own nodejs is older; install from your usual source).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 3
fi

# --- Debian packages. Java and Maven are checked by command: many machines ship their own JDK.
APT_PACKAGES=(
  build-essential pkg-config util-linux
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
  iproute2 iputils-ping iptables nftables socat dnsutils curl
  redis-server kcat lz4 python3 python3-venv python3-avro
)
command -v java >/dev/null 2>&1 || APT_PACKAGES+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || APT_PACKAGES+=(maven)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  step "debian packages present"
fi

# --- npm packages: `npm ci` when the lockfile changed since the last install.
lock_sum=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f node_modules/.lookback-lock ] || [ "$(cat node_modules/.lookback-lock)" != "$lock_sum" ]; then
  step "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.lookback-lock
else
  step "npm packages present"
fi

# --- Kafka broker jars and the schema registry (Maven Central / PyPI, into the machine-wide cache).
[ -f scripts/setup-kafka.sh ] && bash scripts/setup-kafka.sh
[ -f scripts/setup-registry.sh ] && bash scripts/setup-registry.sh

# --- TypeScript (incremental: fast when nothing changed).
step "tsc build"
npx tsc -p tsconfig.json

# --- The real hubble CLI (built from the Go module proxy; the tests use it as a client of our Observer API).
[ -f scripts/setup-hubble.sh ] && bash scripts/setup-hubble.sh

# --- Kernel programs and the libbpf addon.
[ -f scripts/setup-bpf.sh ] && bash scripts/setup-bpf.sh
step "done"
