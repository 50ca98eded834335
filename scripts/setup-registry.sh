#!/usr/bin/env bash
# Fetches Apicurio Registry (a Confluent-compatible schema registry: /apis/ccompat/v7) from Maven Central into the
# machine-wide cache, once: the runnable Quarkus distribution io.apicurio:apicurio-registry-app:<v>:tar.gz:all.
# Re-running is near-instant: a stamp records the unpacked version.
# Usage: bash scripts/setup-registry.sh      (APICURIO_VERSION=... overrides the pinned version for a trial)
set -euo pipefail

# Pinned here and in common/stack/registry.ts (registry.test.ts checks they agree). 3.0.x runs on Java 17;
# 3.3.x needs Java 21, which Debian 12 does not ship.
APICURIO_VERSION="${APICURIO_VERSION:-3.0.9}"
# Plugin 2.8 on purpose: 3.x first reads the artifact's descriptor, and the parent pom of 3.0.9
# (io.apicurio:apicurio-registry:pom:3.0.9) is missing from Maven Central, so 3.x refuses. The archive itself is
# there, signed and checksummed, and mvn -C (strict checksums) fails on a mismatch.
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:2.8"
cache="${LOOKBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookback}"
dest="$cache/apicurio-registry-$APICURIO_VERSION"
stamp="$dest/.complete"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$APICURIO_VERSION" ]]; then
  echo "registry: Apicurio Registry $APICURIO_VERSION already in $dest"
  exit 0
fi

echo "registry: checking for java and mvn"
if ! command -v java >/dev/null && [[ ! -x "${JAVA_HOME:-/nonexistent}/bin/java" ]]; then
  echo "registry: java not found; install Java 17+ (apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME" >&2
  exit 1
fi
command -v mvn >/dev/null || { echo "registry: mvn not found; install Maven (apt-get install -y maven)" >&2; exit 1; }

echo "registry: fetching io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all from Maven Central (about 110 MB)"
mkdir -p "$dest"
rm -rf "$dest/app.tmp" "$dest/download"
mvnlog="$dest/mvn.log"
# Run from the cache folder: a plugin that writes bookkeeping files next to the (implicit) project keeps them there.
if ! (cd "$dest" && mvn -q -B -C -Dstyle.color=never \
    -Dmaven.repo.local="$cache/m2" \
    "$DEPENDENCY_PLUGIN:copy" \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
    -DoutputDirectory="$dest/download" >"$mvnlog" 2>&1); then
  tail -n 30 "$mvnlog" >&2
  echo "registry: mvn could not fetch Apicurio Registry (full log: $mvnlog); is Maven Central reachable?" >&2
  exit 1
fi
echo "registry: unpacking $(du -h "$dest/download/"*.tar.gz | cut -f1)"
mkdir -p "$dest/app.tmp"
tar -xzf "$dest/download/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$dest/app.tmp"
runner="$dest/app.tmp/apicurio-registry-app-$APICURIO_VERSION-runner.jar"
[[ -f "$runner" ]] || { echo "registry: the archive has no $(basename "$runner")" >&2; exit 1; }

echo "registry: installing into $dest/app ($(du -sh "$dest/app.tmp" | cut -f1))"
rm -rf "$dest/app"
# Class archives (*.jsa, made by the first start) are tied to the exact jar files: drop them with the old ones.
rm -f "$dest"/*.jsa "$dest"/*.jsa.*.tmp
mv "$dest/app.tmp" "$dest/app"
# The unpacked copy is all we run; the archive (here and in the Maven repository) would only double the disk use.
rm -rf "$dest/download" "$cache/m2/io/apicurio/apicurio-registry-app/$APICURIO_VERSION"
echo "$APICURIO_VERSION" >"$stamp"
echo "registry: ready in $dest/app"
