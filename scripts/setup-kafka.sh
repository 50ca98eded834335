#!/usr/bin/env bash
# Resolves the Apache Kafka broker jars from Maven Central into the machine-wide cache, once.
# Re-running is near-instant: a stamp records which pom and version produced the libs/ folder.
# The version is pinned in scripts/kafka-pom.xml (KAFKA_VERSION=... overrides it for a trial).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/kafka-pom.xml"
KAFKA_VERSION="${KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")}"
cache="${LOOKBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookback}"
dest="$cache/kafka-$KAFKA_VERSION"
stamp="$dest/.complete"
want="$KAFKA_VERSION $(sha256sum "$pom" | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "kafka: $KAFKA_VERSION already in $dest/libs"
  exit 0
fi

echo "kafka: checking for java and mvn"
if ! command -v java >/dev/null && [[ ! -x "${JAVA_HOME:-/nonexistent}/bin/java" ]]; then
  echo "kafka: java not found; install Java 17+ (apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME" >&2
  exit 1
fi
command -v mvn >/dev/null || { echo "kafka: mvn not found; install Maven (apt-get install -y maven)" >&2; exit 1; }

echo "kafka: resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central into $dest/libs"
mkdir -p "$dest"
rm -rf "$dest/libs.tmp"
mvnlog="$dest/mvn.log"
# The Maven repository lives in the cache too, so a fresh clone (or a pom change) re-resolves without downloading.
if ! mvn -q -B -C -Dstyle.color=never -f "$pom" \
    -Dmaven.repo.local="$cache/m2" \
    -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dest/libs.tmp" >"$mvnlog" 2>&1; then
  tail -n 30 "$mvnlog" >&2
  echo "kafka: mvn could not resolve the Kafka jars (full log: $mvnlog); is Maven Central reachable?" >&2
  exit 1
fi

echo "kafka: installing $(ls "$dest/libs.tmp" | wc -l) jars ($(du -sh "$dest/libs.tmp" | cut -f1))"
rm -rf "$dest/libs"
# Class archives (*.jsa, made by the first start) are tied to the exact jar files: drop them with the old ones.
rm -f "$dest"/*.jsa "$dest"/*.jsa.*.tmp
mv "$dest/libs.tmp" "$dest/libs"
echo "$want" >"$stamp"
echo "kafka: ready in $dest/libs"
