#!/usr/bin/env bash
# Start or stop the local servers on 127.0.0.1, each tracked by a PID file.
# usage: scripts/servers.sh start|stop|status [kafka] [redis] [cassandra] [s3] [redis-cluster] [prometheus]
#        (default: the first four)
# Apache Kafka 4 (KRaft) and Cassandra 5 run from the jars scripts/setup.sh fetched with Maven; Redis from apt;
# SeaweedFS (S3) from PyPI.
# env:   TOPK_STATE_DIR (default .local/), KAFKA_PORT (9092; its controller PORT+1), REDIS_PORT (6379),
#        CASSANDRA_PORT (9042; internode PORT-2032), KAFKA_HEAP / CASSANDRA_HEAP (512m each),
#        S3_PORT (8333; SeaweedFS also takes the next 5 ports and each + 10000), S3_BUCKET (topk-archive; and
#        topk-checkpoints for Flink),
#        AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the S3 credentials; defaults: scripts/local-s3.env),
#        REDIS_CLUSTER_PORT (7000: three masters on it and the next two ports),
#        PROMETHEUS_PORT (9090), PROMETHEUS_INTERVAL (15s: scrapes and rule evaluations), PROMETHEUS_API_TARGET
#        (127.0.0.1:8080), TOPK_API_TOKEN_FILE (the API's token for its /metrics, if it has one),
#        TOPK_SECURE=1: secured servers, as in production (certificates from scripts/tls.sh in $STATE/tls):
#          Redis requires TOPK_REDIS_PASSWORD and adds TLS on REDIS_PORT+1; Kafka adds a SASL_SSL listener
#          (SCRAM-SHA-512, user topk, password TOPK_KAFKA_PASSWORD) on KAFKA_PORT+2; Cassandra requires a
#          password (PasswordAuthenticator: user cassandra, password cassandra) and accepts TLS on its port.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${TOPK_STATE_DIR:-$ROOT/.local}
VENV=${TOPK_VENV:-$ROOT/.venv}
KAFKA_PORT=${KAFKA_PORT:-9092}; REDIS_PORT=${REDIS_PORT:-6379}; CASSANDRA_PORT=${CASSANDRA_PORT:-9042}
S3_PORT=${S3_PORT:-8333}; S3_BUCKET=${S3_BUCKET:-topk-archive}; REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-7000}
SECURE=${TOPK_SECURE:-}
source "$ROOT/scripts/local-s3.env"
mkdir -p "$STATE"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # name port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    port_open "$2" && return 0
    kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null || { echo "$1 exited; see $STATE/$1.log" >&2; tail -20 "$STATE/$1.log" >&2; return 1; }
    sleep 0.1
  done
  echo "$1 did not open port $2 in $3 s; see $STATE/$1.log" >&2; return 1
}

running() { [[ -f "$STATE/$1.pid" ]] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

start_one() {
  local name=$1 port
  if running "$name"; then echo "$name already running (pid $(cat "$STATE/$name.pid"))"; return 0; fi
  case $name in
    kafka) port=$KAFKA_PORT
      "$ROOT/scripts/kafka.sh" "$STATE/kafka-data" "$port" "${KAFKA_HEAP:-512m}" >"$STATE/kafka.log" 2>&1 & ;;
    redis) port=$REDIS_PORT
      (umask 077; { echo "port $port"; echo "bind 127.0.0.1"; echo "save ''"; echo "appendonly yes"; echo "dir $STATE"
        if [[ -n $SECURE ]]; then
          echo "requirepass ${TOPK_REDIS_PASSWORD:?TOPK_SECURE needs TOPK_REDIS_PASSWORD}"; echo "tls-port $((port + 1))"
          echo "tls-cert-file $STATE/tls/server.pem"; echo "tls-key-file $STATE/tls/server.key"
          echo "tls-ca-cert-file $STATE/tls/ca.pem"; echo "tls-auth-clients no"
        fi } >"$STATE/redis.conf")  # the password in a file, not on the command line
      redis-server "$STATE/redis.conf" >"$STATE/redis.log" 2>&1 & ;;
    redis-cluster) port=$REDIS_CLUSTER_PORT
      "$ROOT/scripts/redis-cluster.sh" "$STATE/redis-cluster" "$port" >"$STATE/redis-cluster.log" 2>&1 & ;;
    cassandra) port=$CASSANDRA_PORT
      "$ROOT/scripts/cassandra.sh" "$STATE/cassandra-data" "$port" "${CASSANDRA_HEAP:-512m}" >"$STATE/cassandra.log" 2>&1 & ;;
    s3) port=$S3_PORT  # SeaweedFS: an S3 API with the credentials above, nothing else exposed
      mkdir -p "$STATE/s3-data"
      "$VENV/bin/weed" mini -dir="$STATE/s3-data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
        -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -s3.port="$port" \
        -master.port=$((port + 1)) -filer.port=$((port + 2)) -volume.port=$((port + 3)) -admin.port=$((port + 4)) \
        -debug.port=$((port + 5)) -bucket="$S3_BUCKET,topk-checkpoints" >"$STATE/s3.log" 2>&1 & ;;
    prometheus) port=${PROMETHEUS_PORT:-9090}  # docker/alerts.yml over the Flink reporter's ports and the API
      { echo "global: {scrape_interval: ${PROMETHEUS_INTERVAL:-15s}, evaluation_interval: ${PROMETHEUS_INTERVAL:-15s}}"
        echo "rule_files: [\"$ROOT/docker/alerts.yml\"]"
        echo "scrape_configs:"
        echo "  - job_name: flink"
        echo "    static_configs: [{targets: [$(seq -s, -f '"127.0.0.1:%g"' 9249 9259)]}]"
        echo "  - job_name: topk-api"
        [[ -z ${TOPK_API_TOKEN_FILE:-} ]] || echo "    authorization: {type: Bearer, credentials_file: \"$TOPK_API_TOKEN_FILE\"}"
        echo "    static_configs: [{targets: [\"${PROMETHEUS_API_TARGET:-127.0.0.1:8080}\"]}]"
      } >"$STATE/prometheus.yml"
      prometheus --config.file="$STATE/prometheus.yml" --storage.tsdb.path="$STATE/prometheus-data" \
        --web.listen-address="127.0.0.1:$port" >"$STATE/prometheus.log" 2>&1 & ;;
    *) echo "unknown server $name" >&2; return 2 ;;
  esac
  echo $! >"$STATE/$name.pid"
  wait_port "$name" "$port" 90
  if [[ $name == redis-cluster ]]; then
    for ((i = 0; i < 300; i++)); do grep -q "ready" "$STATE/redis-cluster.log" && break; sleep 0.1; done
    grep -q "ready" "$STATE/redis-cluster.log" || { echo "redis cluster not formed; see $STATE/redis-cluster" >&2; return 1; }
  fi
  [[ $name != s3 ]] || "$VENV/bin/python" - "$port" "$S3_BUCKET" topk-checkpoints <<'PY' || { echo "buckets not created; see $STATE/s3.log" >&2; return 1; }
import sys, time
from pyarrow import fs
s3 = fs.S3FileSystem(endpoint_override=f"127.0.0.1:{sys.argv[1]}", scheme="http")
for _ in range(600):  # weed mini sets up credentials and the buckets a few seconds after the port opens
    try:
        if all(s3.get_file_info(b).type == fs.FileType.Directory for b in sys.argv[2:]):
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
  echo "$name up on 127.0.0.1:$port (pid $(cat "$STATE/$name.pid"))"
}

stop_one() {
  local name=$1 pid i
  [[ -f "$STATE/$name.pid" ]] || return 0
  pid=$(cat "$STATE/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "$name stopped (pid $pid)"
  fi
  rm -f "$STATE/$name.pid"
}

cmd=${1:-}; shift || true
names=("$@"); [[ ${#names[@]} -gt 0 ]] || names=(kafka redis cassandra s3)
case $cmd in
  start) [[ -z $SECURE ]] || "$ROOT/scripts/tls.sh" "$STATE/tls"
    for n in "${names[@]}"; do start_one "$n"; done ;;
  stop) for n in "${names[@]}"; do stop_one "$n"; done ;;
  status) for n in "${names[@]}"; do running "$n" && echo "$n: running (pid $(cat "$STATE/$n.pid"))" || echo "$n: stopped"; done ;;
  *) echo "usage: $0 start|stop|status [kafka] [redis] [cassandra] [s3] [redis-cluster] [prometheus]" >&2; exit 2 ;;
esac
