#!/usr/bin/env bash
# A local certificate authority and a server certificate for 127.0.0.1/localhost, for the secured test
# servers (scripts/servers.sh with TOPK_SECURE=1). Made once per directory; no secret on a command line.
# usage: scripts/tls.sh DIR   ->  DIR/ca.pem (clients trust it), DIR/server.{pem,key} (Redis),
#                                 DIR/server.p12 (Kafka, Cassandra) with its password in DIR/keystore-password
set -euo pipefail
DIR=$(realpath -m "$1")
[[ -f $DIR/server.p12 ]] && exit 0
mkdir -p "$DIR"; chmod 700 "$DIR"; cd "$DIR"
umask 077
head -c 24 /dev/urandom | base64 | tr -d '/+=' >keystore-password
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=topk-local-ca" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile san.ext \
  -out server.pem 2>/dev/null
openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem -name server -out server.p12 \
  -passout file:keystore-password
chmod 644 ca.pem
