#!/usr/bin/env bash
# End to end on this machine: install what is missing, start the local servers (Apache Kafka, Redis,
# Cassandra, S3), produce a skewed stream, run the top-K job and the archive job on a local Flink
# MiniCluster (checkpoints on S3), then print the top-K from Redis next to the exact counts, range
# queries through the REST API (approximate, and exact from the Parquet archive), per event type and
# region, trending and threshold answers, GraphQL, an audit of one hour, and the leaderboard page's address. The jobs print their progress every few seconds.
# Stops what it started (DEMO_KEEP_API=1: keeps the API and the page up until Ctrl-C first).
# env: DEMO_EVENTS (default 40000), DEMO_UNIVERSE (20000), DEMO_SKEW (1.1), DEMO_SPAN_MS (7200000),
#      DEMO_API_PORT (8080), DEMO_KEEP_API (0)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${TOPK_VENV:-$ROOT/.venv}/bin/python
EVENTS=${DEMO_EVENTS:-40000}; UNIVERSE=${DEMO_UNIVERSE:-20000}; SKEW=${DEMO_SKEW:-1.1}; SPAN=${DEMO_SPAN_MS:-7200000}
API_PORT=${DEMO_API_PORT:-8080}; API=http://127.0.0.1:$API_PORT

bash scripts/setup.sh
source scripts/local-s3.env
started=()
for s in kafka redis cassandra s3; do
  bash scripts/servers.sh status "$s" | grep -q running || started+=("$s")
done
api_pid=
cleanup() {
  [[ -z $api_pid ]] || kill "$api_pid" 2>/dev/null || true
  [[ ${#started[@]} -eq 0 ]] || bash scripts/servers.sh stop "${started[@]}"
}
trap cleanup EXIT
[[ ${#started[@]} -eq 0 ]] || bash scripts/servers.sh start "${started[@]}"

RUN=$(date +%s)
TOPIC=demo-$RUN
NOW_MS=$((RUN * 1000))
START=$((NOW_MS - NOW_MS % 3600000 - (SPAN + 3599999) / 3600000 * 3600000))  # whole hours, all before now
S3=(--archive-url "s3://topk-archive/$TOPIC" --s3-endpoint-url http://127.0.0.1:8333)  # a fresh archive per run
NS=(--redis-prefix "demo_$RUN" --cassandra-keyspace "demo_$RUN")  # and a fresh namespace for its results
PREFIX=(--redis-prefix "demo_$RUN")  # (what reads Redis only takes the prefix)
CHECKPOINTS=s3://topk-checkpoints/$TOPIC  # Flink's S3 plugin, the same server
STREAM=(--events "$EVENTS" --universe "$UNIVERSE" --skew "$SKEW" --span-ms "$SPAN" --start-ms "$START")

echo "== producing $EVENTS events (Zipf $SKEW over $UNIVERSE ranks x 4 event types) to $TOPIC"
"$PY" -m topk.generator.produce --topic "$TOPIC" "${STREAM[@]}"
echo "== running the job (local MiniCluster, bounded: stops at the end of the topic)"
"$PY" -m jobs.topk_job --bounded --topic "$TOPIC" --dead-letter-topic "$TOPIC-dlq" --group-id "$TOPIC" \
  --k 10 --checkpoint-dir "$CHECKPOINTS/topk" --alert-phi 0.1 --alerts-topic "$TOPIC-alerts" "${S3[@]}" "${NS[@]}"
echo "== running the archive job: every record as Parquet on the local S3 server (s3://topk-archive/$TOPIC)"
"$PY" -m jobs.archive_job --bounded --topic "$TOPIC" --group-id "$TOPIC" "${S3[@]}" \
  --checkpoint-dir "$CHECKPOINTS/archive"
echo "== the query side: newest 1h top-10 for region=eu-west, from Redis"
"$PY" -m topk.query --window 1h --dimension region --value eu-west --k 10 "${PREFIX[@]}"
echo "== stored top-10 per hour (Redis) next to exact counts"
"$PY" -m topk.generator.verify --window 1h --k 10 "${STREAM[@]}" "${PREFIX[@]}"
echo "== Redis keys look like:  redis-cli ZREVRANGE '{demo_$RUN:1h:all:all}:$((START / 60000))' 0 9 WITHSCORES"

echo "== the REST API (python -m topk.query.api, OpenAPI at $API/docs): range queries merging stored windows"
"$PY" -m topk.query.api --port "$API_PORT" --topic "$TOPIC" --alerts-topic "$TOPIC-alerts" "${S3[@]}" "${NS[@]}" \
  >"$ROOT/.local/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 60); do curl -sf "$API/health/ready" >/dev/null && break; sleep 1; done
FROM=$((START + SPAN - 4500000)); TO=$((START + SPAN))  # 15 minute windows + an hour window
show() {
  echo "GET $1"
  curl -sf "$API$1" | jq -r '.metadata as $m
    | "\($m.accuracy): [\($m.start), \($m.end)) from " + (if $m.scan then "\($m.scan.files) Parquet files (\($m.scan.bytes) bytes, \($m.scan.seconds) s)" else "\($m.windows_merged) stored windows" end) + ", \($m.total_events) events, counts within +\($m.error_bound)",
      (.results[] | "  \(.rank). \(.item)  \(.count)  true count in [\(.lower_bound), \(.upper_bound)]")'
}
show "/api/v1/topk/historical?k=5&start=$FROM&end=$TO&dimension=region&value=eu-west"
show "/api/v1/topk/historical?k=5&start=$FROM&end=$TO&dimension=region&value=eu-west&mode=exact"
show "/api/v1/count/item-1?start=$FROM&end=$TO"
show "/api/v1/count/item-1?start=$FROM&end=$TO&mode=exact"
echo "== the questions users ask next, one request each (last=: counted back from the newest stored minute)"
echo "   top products in eu-west over the last 3 hours (dimension region+eventType, value eu-west|product_view):"
show "/api/v1/topk/historical?k=5&last=3h&dimension=region%2BeventType&value=eu-west%7Cproduct_view"
echo "   what rose most this hour against the mean of the previous six:"
echo "GET /api/v1/trending?last=1h&baseline=6&k=5"
curl -sf "$API/api/v1/trending?last=1h&baseline=6&k=5" | jq -r '.metadata as $m
  | "[\($m.start), \($m.end)) against [\($m.baseline.start), \($m.baseline.end)), counted through \($m.freshness.counted_through); unlisted items changed by at most \($m.unlisted_bound)",
    (.results[] | "  \(.rank). \(.item)  +\(.change)  change in [\(.change_lower_bound), \(.change_upper_bound)]  guaranteed \(.guaranteed)")'
echo "   what multiplied most this hour against the previous six, among items counted 50 times:"
echo "GET /api/v1/trending?last=1h&baseline=6&k=5&min_count=50"
curl -sf "$API/api/v1/trending?last=1h&baseline=6&k=5&min_count=50" | jq -r '.metadata as $m
  | "unlisted items grew at most x\($m.unlisted_bound)",
    (.results[] | "  \(.rank). \(.item)  x\(.change)  growth in [\(.change_lower_bound), \(.change_upper_bound)]  guaranteed \(.guaranteed)")'
echo "   every search query above 1 % of today's searches:"
echo "GET /api/v1/frequent?last=1d&phi=0.01&dimension=eventType&value=search"
curl -sf "$API/api/v1/frequent?last=1d&phi=0.01&dimension=eventType&value=search" | jq -r '.metadata as $m
  | "threshold \($m.threshold) of \($m.total_events) searches, complete: \($m.complete)",
    (.results[] | "  \(.item)  \(.count)  true count in [\(.lower_bound), \(.upper_bound)]  certainly above \(.guaranteed)")'
echo "   data alerts: items certainly above 10 % of a window's events (the job's --alert-phi), latest first:"
echo "GET /api/v1/alerts?limit=5&window=1h"
for _ in $(seq 20); do curl -sf "$API/api/v1/alerts?limit=1" | jq -e '.feed.caughtUp' >/dev/null && break; sleep 0.5; done
curl -sf "$API/api/v1/alerts?limit=5&window=1h" | jq -r '.alerts[]
  | "  \(.start) \(.window) \(.dimension)=\(.value): \(.item) in [\(.lowerBound), \(.upperBound)] of \(.totalEvents) events"'
echo "== audit: the approximate top-10, items above 1 % and rises against the hour before, against the archive"
"$PY" -m topk.query.audit --start "$((START + SPAN - 3600000))" --end "$((START + SPAN))" --k 10 --phi 0.01 \
  --baseline 1 "${S3[@]}" "${NS[@]}"
echo "== GraphQL at $API/graphql: two windows and a count in one request"
query='{ hour: topK(window: \"1h\", k: 3) { start results { item count } } eu: topK(window: \"1h\", dimension: \"region\", value: \"eu-west\", k: 3) { results { item count } } one: count(item: \"item-1\", start: \"'$FROM'\", end: \"'$TO'\") { count lowerBound upperBound } }'
curl -sf -H 'Content-Type: application/json' -d "{\"query\": \"$query\"}" "$API/graphql" | jq -c '.data'
echo "== metrics: the API's at $API/metrics, e.g."
curl -sf "$API/metrics" | grep '^topk_api_requests_total' || true
echo "   the job's (topk_*, deadLetters_*) on a cluster: scripts/submit.sh cluster-start && scripts/submit.sh run ...,"
echo "   then http://127.0.0.1:9249/metrics (JobManager) and :9250 (TaskManager); see docs/metrics.md"
echo "== the leaderboard page: $API/ (live top-K per window, dimension and value; click an item for its history)"
if [[ ${DEMO_KEEP_API:-0} == 1 ]]; then
  echo "   the API and the page stay up until Ctrl-C"
  wait "$api_pid" || true
fi
