#!/usr/bin/env bash
# Run Apache Kafka (KRaft: one process is broker and controller) from the jars scripts/setup.sh fetched
# with Maven (.jars/kafka), on 127.0.0.1, in the foreground. Formats the storage on first start.
# usage: scripts/kafka.sh DATA_DIR [PORT=9092] [HEAP=512m]     (the controller listens on PORT+1)
# TOPK_SECURE=1 adds a SASL_SSL listener on PORT+2: SCRAM-SHA-512, user topk, password TOPK_KAFKA_PASSWORD,
# the PKCS12 keystore of scripts/tls.sh in TLS_DIR (default DATA_DIR/../tls).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=$(realpath -m "$1"); PORT=${2:-9092}; HEAP=${3:-512m}
LIBS=${TOPK_JARS_DIR:-$ROOT/.jars}/kafka
[[ -d $LIBS ]] || { echo "no Kafka jars in $LIBS: run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$DATA/logs"
LISTENERS=PLAINTEXT://127.0.0.1:$PORT; PROTOCOLS=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
if [[ -n ${TOPK_SECURE:-} ]]; then
  LISTENERS+=",SECURE://127.0.0.1:$((PORT + 2))"; PROTOCOLS+=",SECURE:SASL_SSL"
  TLS=${TLS_DIR:-$(dirname "$DATA")/tls}
fi
umask 077  # the keystore password goes into server.properties
cat >"$DATA/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$((PORT + 1))
listeners=$LISTENERS,CONTROLLER://127.0.0.1:$((PORT + 1))
advertised.listeners=$LISTENERS
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$PROTOCOLS
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
if [[ -n ${TOPK_SECURE:-} ]]; then cat >>"$DATA/server.properties" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.secure.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secure.ssl.keystore.type=PKCS12
listener.name.secure.ssl.keystore.location=$TLS/server.p12
listener.name.secure.ssl.keystore.password=$(cat "$TLS/keystore-password")
EOF
fi
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
  SCRAM=()  # the SCRAM user goes into the metadata log at format time (a local, short-lived process)
  [[ -z ${TOPK_SECURE:-} ]] || SCRAM=(--add-scram "SCRAM-SHA-512=[name=topk,password=${TOPK_KAFKA_PASSWORD:?}]")
  java "${JAVA_OPTS[@]}" kafka.tools.StorageTool format --ignore-formatted -c "$DATA/server.properties" \
    -t "$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid)" "${SCRAM[@]}"
fi
exec java "${JAVA_OPTS[@]}" kafka.Kafka "$DATA/server.properties"
