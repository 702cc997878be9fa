#!/usr/bin/env bash
# Run Apache Cassandra 5.0 (CassandraDaemon from the jars scripts/setup.sh fetched with Maven,
# .jars/cassandra) as one node on 127.0.0.1, in the foreground, sized for a 2-core machine.
# usage: scripts/cassandra.sh DATA_DIR [NATIVE_PORT=9042] [HEAP=512m]   (internode: NATIVE_PORT-2032; no JMX)
# TOPK_SECURE=1: PasswordAuthenticator (superuser cassandra/cassandra) and client TLS (optional: plain too) with the
# PKCS12 keystore of scripts/tls.sh in TLS_DIR (default DATA_DIR/../tls).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=$(realpath -m "$1"); PORT=${2:-9042}; HEAP=${3:-512m}
LIBS=${TOPK_JARS_DIR:-$ROOT/.jars}/cassandra
[[ -d $LIBS ]] || { echo "no Cassandra jars in $LIBS: run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$DATA"
AUTH=AllowAllAuthenticator
[[ -z ${TOPK_SECURE:-} ]] || AUTH=PasswordAuthenticator
umask 077  # the keystore password goes into cassandra.yaml
cat >"$DATA/cassandra.yaml" <<EOF
cluster_name: topk-local
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters: [{seeds: "127.0.0.1:$((PORT - 2032))"}]
listen_address: 127.0.0.1
storage_port: $((PORT - 2032))
rpc_address: 127.0.0.1
native_transport_port: $PORT
start_native_transport: true
data_file_directories: [$DATA/data]
commitlog_directory: $DATA/commitlog
saved_caches_directory: $DATA/saved_caches
hints_directory: $DATA/hints
cdc_raw_directory: $DATA/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
authenticator: $AUTH
authorizer: AllowAllAuthorizer
concurrent_reads: 8
concurrent_writes: 8
concurrent_compactors: 1
memtable_allocation_type: heap_buffers
EOF
if [[ -n ${TOPK_SECURE:-} ]]; then TLS=${TLS_DIR:-$(dirname "$DATA")/tls}; cat >>"$DATA/cassandra.yaml" <<EOF
client_encryption_options:
  enabled: true
  optional: true
  keystore: $TLS/server.p12
  keystore_password: $(cat "$TLS/keystore-password")
  store_type: PKCS12
EOF
fi
cat >"$DATA/logback.xml" <<'EOF'
<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
EOF
# From Cassandra's conf/jvm17-server.options (the module access it needs on Java 17)
JPMS=(-Djdk.attach.allowAttachSelf=true -Dio.netty.tryReflectionSetAccessible=true)
for p in java.base/jdk.internal.misc java.management.rmi/com.sun.jmx.remote.internal.rmi java.rmi/sun.rmi.registry \
  java.rmi/sun.rmi.server java.sql/java.sql java.base/java.lang.ref jdk.unsupported/sun.misc \
  jdk.compiler/com.sun.tools.javac.file jdk.attach/sun.tools.attach; do JPMS+=(--add-exports "$p=ALL-UNNAMED"); done
for p in java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref \
  java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module \
  java.base/jdk.internal.util.jar jdk.management/com.sun.management.internal java.base/sun.nio.ch java.base/java.io \
  java.base/java.lang.reflect jdk.compiler/com.sun.tools.javac java.base/java.lang java.base/java.util \
  java.base/java.nio java.base/java.util.concurrent java.base/java.util.concurrent.atomic java.base/java.net; do
  JPMS+=(--add-opens "$p=ALL-UNNAMED")
done
exec java "${JPMS[@]}" -Xms"$HEAP" -Xmx"$HEAP" -Xss256k -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
  -Dcassandra.config="file://$DATA/cassandra.yaml" -Dlogback.configurationFile="$DATA/logback.xml" \
  -Dcassandra.storagedir="$DATA" -Dcassandra-foreground=yes \
  -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=0 -Dcassandra.superuser_setup_delay_ms=0 \
  -cp "$LIBS/*" org.apache.cassandra.service.CassandraDaemon
