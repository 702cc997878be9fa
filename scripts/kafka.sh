#!/usr/bin/env bash
# Run Apache Kafka (KRaft: one process is broker and controller) from the jars scripts/setup.sh fetched
# with Maven (.jars/kafka), on 127.0.0.1, in the foreground. Formats the storage on first start.
# usage: scripts/kafka.sh DATA_DIR [PORT=9092] [HEAP=512m]     (the controller listens on PORT+1)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=$(realpath -m "$1"); PORT=${2:-9092}; HEAP=${3:-512m}
LIBS=${TOPK_JARS_DIR:-$ROOT/.jars}/kafka
[[ -d $LIBS ]] || { echo "no Kafka jars in $LIBS: run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$DATA/logs"
cat >"$DATA/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$((PORT + 1))
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$((PORT + 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA/logs
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
cat >"$DATA/log4j2.yaml" <<'EOF'
Configuration:
  Appenders:
    Console: {name: STDOUT, PatternLayout: {pattern: "[%d] %p %m (%c)%n"}}
  Loggers:
    Root: {level: INFO, AppenderRef: [{ref: STDOUT}]}
    Logger: [{name: kafka.log, level: WARN}, {name: org.apache.kafka.storage, level: WARN}]
EOF
JAVA_OPTS=(-Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$DATA/log4j2.yaml" -cp "$LIBS/*")
if [[ ! -f $DATA/logs/meta.properties ]]; then
  java "${JAVA_OPTS[@]}" kafka.tools.StorageTool format --ignore-formatted -c "$DATA/server.properties" \
    -t "$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid)"
fi
exec java "${JAVA_OPTS[@]}" kafka.Kafka "$DATA/server.properties"
