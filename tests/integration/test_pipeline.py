"""A known stream, with every kind of bad record mixed in, through the real broker, a Flink
MiniCluster, Redis and Cassandra: the stored top-K must equal the exact top-K."""

from __future__ import annotations

import base64
import time
from collections import Counter

import pytest

from tests.bad_records import bad_records
from tests.integration.helpers import read_topic, stored_top
from topk.generator.events import StreamSpec, encode, exact_counts, generate
from topk.generator.produce import send
from topk.sketches.accuracy import ranked
from topk.stores.cassandra_connection import CassandraConnection, connect
from topk.stores.kafka_client import ensure_topic
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import window_key

pytestmark = pytest.mark.integration
K = 10
HOUR = 3_600_000


def test_known_stream_gives_exact_top_k_in_redis_and_cassandra(servers, run_id, run_job):
    now = int(time.time() * 1000)
    start = now - now % HOUR - 2 * HOUR  # two full hours ago: the hour window is known exactly
    spec = StreamSpec(events=6_000, universe=60, skew=1.1, start_ms=start, span_ms=4 * 60_000, seed=7)
    good = list(generate(spec))
    weighted = {"metadata": {"eventType": "generic", "timestamp": start + 1000}, "payload": {"itemId": "heavy"}}
    weighted["payload"]["weight"] = 700
    good.insert(0, weighted)  # in order: a late event would be dropped by the window
    bad = bad_records(now)
    topic, keyspace = f"events_{run_id}", f"topk_{run_id}"
    ensure_topic(servers.kafka, topic, partitions=2)
    records = [encode(e) for e in good]
    for i, raw in enumerate(bad):  # spread the bad records through the stream
        records.insert((i + 1) * len(records) // (len(bad) + 1), raw)
    send(servers.kafka, topic, records)

    run_job(
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--group-id",
        run_id,
        "--windows",
        "1m,1h,all",
        "--dimensions",
        "region,category,eventType,region+eventType",
        "--k",
        str(K),
        "--cassandra-keyspace",
        keyspace,
    )

    r = redis_connect(servers.redis_url)
    minutes = exact_counts(iter(good), 60_000)
    assert len(minutes) == 4
    for minute_start, counts in minutes.items():
        assert stored_top(r, window_key("1m", "all", "all", minute_start)) == ranked(counts, K)
        meta = r.hgetall(window_key("1m", "all", "all", minute_start) + ":meta")
        assert int(meta["totalEvents"]) == sum(counts.values()) and meta["errorBound"] == "0"
        assert int(meta["guaranteed"]) == min(K, len(counts))
    groups = [("region", "eu-west"), ("region", "us-east"), ("eventType", "product_view"), ("eventType", "generic")]
    groups += [("region+eventType", "eu-west|product_view"), ("region+eventType", "us-east|search")]
    for dimension, value in groups:  # the event type is the metadata's; a combination joins its parts' values
        hour = exact_counts(iter(good), HOUR, dimension, value)[start]
        stored = r.zrevrange(window_key("1h", dimension, value, start), 0, -1, withscores=True)
        assert {i: int(c) for i, c in stored} == dict(ranked(hour, K)), (dimension, value)
    all_time = exact_counts(iter(good), 0)[0]
    stored = r.zrevrange(window_key("all", "all", "all", 0), 0, 2, withscores=True)
    assert [(i, int(c)) for i, c in stored] == ranked(all_time, 3)
    bounds = r.hget(window_key("1h", "all", "all", start) + ":bounds", "heavy")
    assert bounds == "700,700,1"  # exact below capacity: certainly in the top-K

    cluster, session = connect(CassandraConnection(port=servers.cassandra_port))
    try:
        hour = exact_counts(iter(good), HOUR)[start]
        rows = session.execute(
            f"SELECT rank, item, estimate, lower_bound, upper_bound FROM {keyspace}.tenant_topk_items "
            "WHERE tenant = 'default' AND window_size = %s AND dimension = %s AND dim_value = %s AND window_start = %s",
            ("1h", "all", "all", start),
        )
        assert [(row.item, row.estimate) for row in sorted(rows, key=lambda row: row.rank)] == ranked(hour, K)
        summaries = session.execute(
            f"SELECT window_start, total_events FROM {keyspace}.tenant_window_summaries "
            "WHERE tenant = 'default' AND window_size = %s AND dimension = %s AND dim_value = %s AND bucket = %s",
            ("1m", "all", "all", start - start % (1440 * 60_000)),
        )
        assert {int(s.window_start.timestamp() * 1000): s.total_events for s in summaries} == {
            m: sum(c.values()) for m, c in minutes.items()
        }
    finally:
        cluster.shutdown()

    letters = read_topic(servers.kafka, f"{topic}-dlq", expected=len(bad))
    assert Counter(d["reason"] for d in letters) == Counter(bad.values())
    assert {base64.b64decode(d["value"]) for d in letters} == set(bad)
