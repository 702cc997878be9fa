#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian 12 machine (idempotent): a JDK 17, Maven,
# redis-server and Prometheus (apt), the venv with PyFlink and the project, the JVM artifacts of jvm/pom.xml from Maven
# Central (the Kafka connector, Flink's S3 plugin, the Apache Kafka and Cassandra servers), our UDF jar.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${TOPK_VENV:-$ROOT/.venv}
JARS=${TOPK_JARS_DIR:-$ROOT/.jars}

need_apt=()
command -v javac >/dev/null || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need_apt+=(maven)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v curl >/dev/null || need_apt+=(curl)
command -v jq >/dev/null || need_apt+=(jq)  # the demo reads the REST API with them
command -v openssl >/dev/null || need_apt+=(openssl)  # scripts/tls.sh: certificates for the secured test servers
command -v chromium >/dev/null || need_apt+=(chromium)  # the page's browser test (Playwright drives it)
if [[ ${#need_apt[@]} -gt 0 ]]; then
  SUDO=$([[ $(id -u) -eq 0 ]] && echo "" || echo sudo)
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  # the Debian package starts its own redis on 6379; the project runs its own by PID
  command -v systemctl >/dev/null && $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
if ! command -v promtool >/dev/null; then  # Prometheus (and promtool): the alert rules' tests; no recommends
  SUDO=$([[ $(id -u) -eq 0 ]] && echo "" || echo sudo)
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    prometheus >/dev/null
  command -v systemctl >/dev/null && $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

[[ -x "$VENV/bin/python" ]] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[dev,local]" 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c "import pyflink, cassandra, redis, kafka, mmh3" # fail here, not later

# JVM artifacts from Maven Central, pinned in jvm/pom.xml: one classpath per profile in $JARS/<profile>,
# fetched again when the pom changes (Maven caches them in ~/.m2).
POM_SUM=$(sha256sum "$ROOT/jvm/pom.xml" | cut -c1-16)
for profile in job s3-plugin kafka cassandra junit; do
  if [[ $(cat "$JARS/$profile/.pom-sum" 2>/dev/null) != "$POM_SUM" ]]; then
    rm -rf "${JARS:?}/$profile"
    mvn -q -B -Dstyle.color=never -f "$ROOT/jvm/pom.xml" -P "$profile" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$JARS/$profile"
    echo "$POM_SUM" >"$JARS/$profile/.pom-sum"
  fi
done
PF=$("$VENV/bin/python" -c 'import pyflink,os;print(os.path.dirname(pyflink.__file__))')
# Flink loads filesystems from its plugins dir, one folder each (as the official image's ENABLE_BUILT_IN_PLUGINS
# does); the MiniCluster and the standalone cluster both read the venv's.
mkdir -p "$PF/plugins/s3-fs-presto"
cp -u "$JARS"/s3-plugin/flink-s3-fs-presto-*.jar "$PF/plugins/s3-fs-presto/"
# Our JVM functions (udfs/jvm), compiled against the installed Flink: rebuilt when a source is newer.
UDF_JAR=$JARS/topk-udfs.jar
if [[ ! -f "$UDF_JAR" ]] || [[ -n $(find "$ROOT/udfs/jvm" -name '*.java' -newer "$UDF_JAR") ]]; then
  build=$(mktemp -d)
  javac -nowarn --release 17 -cp "$PF/lib/*" -d "$build" $(find "$ROOT/udfs/jvm" -name '*.java')
  mkdir -p "$JARS" && jar cf "$UDF_JAR" -C "$build" . && rm -rf "$build"
fi
echo "setup done: venv $VENV, jars $JARS"
