#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian 12 machine (idempotent): a JDK 17 and
# redis-server (apt), the venv with PyFlink and the project, the Kafka connector jars, our UDF jar.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${TOPK_VENV:-$ROOT/.venv}
JARS=${TOPK_JARS_DIR:-$ROOT/.jars}

need_apt=()
command -v javac >/dev/null || need_apt+=(openjdk-17-jdk-headless)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v curl >/dev/null || need_apt+=(curl)
command -v jq >/dev/null || need_apt+=(jq)  # the demo reads the REST API with them
if [[ ${#need_apt[@]} -gt 0 ]]; then
  SUDO=$([[ $(id -u) -eq 0 ]] && echo "" || echo sudo)
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  # the Debian package starts its own redis on 6379; the project runs its own by PID
  command -v systemctl >/dev/null && $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
fi

[[ -x "$VENV/bin/python" ]] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[dev,local]" 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c "import pyflink, cassandra, redis, kafka, mmh3" # fail here, not later

# Flink's Kafka connector is not in apache-flink; the one copy on PyPI is inside this wheel. Take only the
# two jars (installing the wheel would put Flink 2.0 core jars beside Flink 2.3).
if [[ ! -f "$JARS/flink-connector-kafka.jar" || ! -f "$JARS/kafka-clients.jar" ]]; then
  tmp=$(mktemp -d)
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$tmp" shigawire-apache-flink-libraries==2.0.0.post1 2>&1 | grep -v "^WARNING: Location" || true
  mkdir -p "$JARS"
  unzip -q -o -j "$tmp"/*.whl pyflink/lib/flink-connector-kafka.jar pyflink/lib/kafka-clients.jar -d "$JARS"
  rm -rf "$tmp"
fi
# Our JVM functions (udfs/jvm), compiled against the installed Flink: rebuilt when a source is newer.
UDF_JAR=$JARS/topk-udfs.jar
if [[ ! -f "$UDF_JAR" ]] || [[ -n $(find "$ROOT/udfs/jvm" -name '*.java' -newer "$UDF_JAR") ]]; then
  PF=$("$VENV/bin/python" -c 'import pyflink,os;print(os.path.dirname(pyflink.__file__))')
  build=$(mktemp -d)
  javac -nowarn --release 17 -cp "$PF/lib/*" -d "$build" $(find "$ROOT/udfs/jvm" -name '*.java')
  mkdir -p "$JARS" && jar cf "$UDF_JAR" -C "$build" . && rm -rf "$build"
fi
echo "setup done: venv $VENV, jars $JARS"
