#!/usr/bin/env bash
# A local Redis Cluster of three masters on 127.0.0.1 PORT, PORT+1, PORT+2 (cluster bus: each +10000), in the
# foreground; stopping this script (TERM) stops the three servers. With TOPK_REDIS_PASSWORD set, every node
# requires it (from a config file, not the command line).
# usage: scripts/redis-cluster.sh DATA_DIR PORT
set -euo pipefail
DATA=$(realpath -m "$1"); PORT=$2
mkdir -p "$DATA"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT
trap 'exit 143' TERM INT
for p in "$PORT" $((PORT + 1)) $((PORT + 2)); do
  mkdir -p "$DATA/$p"
  (umask 077; { echo "port $p"; echo "bind 127.0.0.1"; echo "cluster-enabled yes"; echo "save ''"
    echo "appendonly no"; echo "dir $DATA/$p"; echo "cluster-config-file $DATA/$p/nodes.conf"
    if [[ -n ${TOPK_REDIS_PASSWORD:-} ]]; then echo "requirepass $TOPK_REDIS_PASSWORD"; echo "masterauth $TOPK_REDIS_PASSWORD"; fi
  } >"$DATA/$p/redis.conf")
  redis-server "$DATA/$p/redis.conf" >"$DATA/$p/redis.log" 2>&1 &
  pids+=($!)
done
for p in "$PORT" $((PORT + 1)) $((PORT + 2)); do
  for ((i = 0; i < 100; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
done
if ! grep -q "myself,master.*connected [0-9]" "$DATA/$PORT/nodes.conf" 2>/dev/null; then
  REDISCLI_AUTH=${TOPK_REDIS_PASSWORD:-} redis-cli --cluster create 127.0.0.1:"$PORT" 127.0.0.1:$((PORT + 1)) \
    127.0.0.1:$((PORT + 2)) --cluster-yes >"$DATA/create.log"
fi
for ((i = 0; i < 100; i++)); do
  REDISCLI_AUTH=${TOPK_REDIS_PASSWORD:-} redis-cli -p "$PORT" cluster info 2>/dev/null | grep -q cluster_state:ok && break
  sleep 0.1
done
echo "redis cluster ready on 127.0.0.1:$PORT-$((PORT + 2))"
wait
