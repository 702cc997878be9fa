"""The query side over results the real job stored: range answers merged from many windows
(approximate, capacity 64), exact mode from the archive job's Parquet files on S3, count of one
item, the audit command, the REST API's validation, auth and rate limit, any item and 64-bit counts
through REST and GraphQL, an API started before anything was stored, retention, and a fuzz of the
whole API (REST from its OpenAPI schema, GraphQL over the item and time corpora), each request timed."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from functools import partial
from urllib.parse import quote

import pytest
import redis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from kafka import KafkaConsumer

from tests.integration.helpers import CAPACITY, WINDOWS, K, aligned_start, counts_between, open_queries, publish
from topk.events import EVENT_TIME_RANGE_MS
from topk.generator.events import StreamSpec, exact_counts
from topk.query.api import ApiConfig, create_app
from topk.query.engine import EXACT
from topk.query.ingest import EventProducer
from topk.sketches import HeavyHittersSketch
from topk.sketches.accuracy import ranked, wrongly_guaranteed
from topk.stores.cassandra_connection import CassandraConnection, connect
from topk.stores.kafka_client import KafkaClient
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import index_key, window_key, write_result
from topk.times import iso
from topk.window_result import WindowResult
from topk.windows import parse_windows

pytestmark = pytest.mark.integration
M, H, D = 60_000, 3_600_000, 86_400_000


def exact_range(events, lo, hi, dimension="all", value="all") -> Counter:
    per_minute = exact_counts(iter(events), M, dimension, value)
    return sum((c for s, c in per_minute.items() if lo <= s < hi), start=Counter())


def test_range_over_many_windows_gives_the_true_top_k_within_bounds(stored, queries):
    spec, _, events = stored
    lo, hi = spec.start_ms + 37 * M, spec.start_ms + 2 * H + 11 * M  # minutes, an hour, minutes
    answer = queries.range_topk(K, lo, hi, "all", "all")
    truth = exact_range(events, lo, hi)
    assert (answer.start, answer.end) == (lo, hi)
    assert len(answer.windows) == 23 + 1 + 11
    assert answer.total_events == sum(truth.values())
    assert answer.error_bound > 0, "capacity 64 should make this approximate"
    assert {i.item for i in answer.items} == {x for x, _ in ranked(truth, K)}
    for i in answer.items:
        assert i.lower_bound <= truth[i.item] <= i.upper_bound
        assert i.upper_bound - i.lower_bound <= answer.error_bound
    assert not wrongly_guaranteed(answer.items, truth, K)
    assert any(i.guaranteed for i in answer.items)


def test_exact_mode_equals_the_true_counts_of_exactly_the_range(stored, queries):
    spec, _, events = stored
    lo, hi = spec.start_ms + 5 * M + 123, spec.start_ms + 2 * H + 50 * M + 7  # any millisecond
    answer = queries.range_topk(20, lo, hi, "region", "eu-west", mode=EXACT)
    truth = counts_between(events, lo, hi, "region", "eu-west")
    assert answer.accuracy == "exact" and answer.error_bound == 0
    assert (answer.start, answer.end, answer.scan.partitions) == (lo, hi, 3)
    assert [(i.item, i.estimate) for i in answer.items] == ranked(truth, 20)
    assert answer.total_events == sum(truth.values())
    one = queries.count("item-1", lo, hi, "region", "eu-west", mode=EXACT).items[0]
    assert one.lower_bound == one.upper_bound == truth["item-1"]


def test_count_of_one_item_is_within_bounds(stored, queries):
    spec, _, events = stored
    lo, hi = spec.start_ms, spec.start_ms + 3 * H
    truth = exact_range(events, lo, hi)
    for item in ("item-1", "query 2", "/page/40", "never-seen"):
        c = queries.count(item, lo, hi, "all", "all").items[0]
        assert c.lower_bound <= truth.get(item, 0) <= c.upper_bound, item


def test_trending_and_frequent_answers_hold_against_exact_counts(stored, queries):
    """Through REST: the third hour against the mean of the two before it, both directions, and the
    items above a share of the three hours, each bound against the events' exact counts."""
    spec, _, events = stored
    api = TestClient(create_app(queries, ApiConfig(WINDOWS, max_k=CAPACITY)))
    t0 = spec.start_ms
    now, before = exact_range(events, t0 + 2 * H, t0 + 3 * H), exact_range(events, t0, t0 + 2 * H)
    for direction, sign in (("rising", 1), ("falling", -1)):
        params = {"start": str(t0 + 2 * H), "end": str(t0 + 3 * H), "baseline": 2, "k": 8, "direction": direction}
        answer = api.get("/api/v1/trending", params=params).json()
        meta = answer["metadata"]
        assert meta["baseline"]["total_events"] == sum(before.values()) and meta["total_events"] == sum(now.values())
        assert answer["results"], direction
        changes = {x: sign * (now[x] - before[x] / 2) for x in now.keys() | before.keys()}
        for r in answer["results"]:
            assert r["change_lower_bound"] <= changes[r["item"]] <= r["change_upper_bound"], r
            assert r["lower_bound"] <= now[r["item"]] <= r["upper_bound"]
            if r["guaranteed"]:
                assert sum(c > changes[r["item"]] for c in changes.values()) < 8, r
        listed = {r["item"] for r in answer["results"]}
        assert all(c <= meta["unlisted_bound"] for x, c in changes.items() if x not in listed)
    params = {"start": str(t0 + 2 * H), "end": str(t0 + 3 * H), "baseline": 2, "k": 8, "min_count": 30}
    grown = api.get("/api/v1/trending", params=params).json()  # growth among items counted 30 times
    assert grown["metadata"]["measure"] == "growth" and grown["results"]
    growth = {x: now[x] / max(Fraction(before[x], 2), 1) for x in now if now[x] >= 30}
    for r in grown["results"]:
        assert r["change_lower_bound"] <= now[r["item"]] / max(Fraction(before[r["item"]], 2), 1)
        assert now[r["item"]] / max(Fraction(before[r["item"]], 2), 1) <= r["change_upper_bound"], r
        assert not r["guaranteed"] or sum(g > growth[r["item"]] for g in growth.values()) < 8, r
    listed = {r["item"] for r in grown["results"]}
    assert all(g <= grown["metadata"]["unlisted_bound"] for x, g in growth.items() if x not in listed)
    refused = api.get("/api/v1/trending", params={**params, "direction": "falling"})
    assert refused.status_code == 400 and "min_count" in refused.json()["detail"]
    total = exact_range(events, t0, t0 + 3 * H)
    for phi in (0.02, 0.005):
        params = {"start": str(t0), "end": str(t0 + 3 * H), "phi": phi}
        answer = api.get("/api/v1/frequent", params=params).json()
        meta = answer["metadata"]
        assert meta["threshold"] == -(-sum(total.values()) * round(phi * 1000) // 1000)
        listed = {r["item"] for r in answer["results"]}
        assert meta["complete"] or phi <= 1 / CAPACITY
        if meta["complete"]:
            assert {x for x, c in total.items() if c >= meta["threshold"]} <= listed
        for r in answer["results"]:
            assert r["lower_bound"] <= total[r["item"]] <= r["upper_bound"]
            assert not r["guaranteed"] or total[r["item"]] >= meta["threshold"]
    query = """query ($s: String!, $m: String!, $e: String!) {
      trending(start: $m, end: $e, baseline: 2, k: 8, direction: FALLING) { results { item changeLowerBound } }
      growth: trending(start: $m, end: $e, baseline: 2, k: 8, minCount: 30) { measure results { item change } }
      frequent(start: $s, end: $e, phi: 0.02) { threshold complete results { item lowerBound } } }"""
    times = {"s": str(t0), "m": str(t0 + 2 * H), "e": str(t0 + 3 * H)}
    data = api.post("/graphql", json={"query": query, "variables": times}).json()["data"]
    rest = api.get(
        "/api/v1/trending",
        params={"start": times["m"], "end": times["e"], "baseline": 2, "k": 8, "direction": "falling"},
    ).json()
    assert [(r["item"], r["changeLowerBound"]) for r in data["trending"]["results"]] == [
        (r["item"], r["change_lower_bound"]) for r in rest["results"]
    ]
    assert data["growth"]["measure"] == "growth"
    assert [(r["item"], r["change"]) for r in data["growth"]["results"]] == [
        (r["item"], r["change"]) for r in grown["results"]
    ]
    rest = api.get("/api/v1/frequent", params={"start": times["s"], "end": times["e"], "phi": 0.02}).json()
    assert data["frequent"]["threshold"] == rest["metadata"]["threshold"] and data["frequent"]["complete"]
    assert [r["item"] for r in data["frequent"]["results"]] == [r["item"] for r in rest["results"]]
    falling = {"baseline": 2, "k": 8, "direction": "falling"}
    relative = api.get("/api/v1/trending", params={"last": "1h", **falling})
    explicit = api.get("/api/v1/trending", params={"start": times["m"], "end": times["e"], **falling})
    assert relative.json()["results"] == explicit.json()["results"]  # the stream's last hour, from its newest
    assert relative.json()["metadata"]["freshness"]["counted_through"] == iso(t0 + 3 * H)
    refused = api.get("/api/v1/trending", params={"start": str(t0), "end": str(t0 + H), "baseline": 25})
    assert refused.status_code == 400 and "baseline" in refused.json()["detail"]
    assert api.get("/api/v1/frequent", params={"start": str(t0), "end": str(t0 + H), "phi": 0}).status_code == 422


def test_the_newest_window_comes_from_cassandra_when_redis_has_none(stored, queries):
    """The same keyspace under a Redis prefix with no keys: ``/api/v1/topk`` answers each window size
    from Cassandra's summaries, as Redis answers it, and so does how far the results reach."""
    gone = copy.copy(queries)
    gone.base_prefix = f"{stored[1]}-gone"
    for window in ("1m", "1h", "all"):
        from_redis, from_cassandra = queries.latest(K, window, "all", "all"), gone.latest(K, window, "all", "all")
        assert from_cassandra is not None and from_cassandra.windows == from_redis.windows, window
        assert (from_cassandra.start, from_cassandra.end, from_cassandra.total_events) == (
            from_redis.start,
            from_redis.end,
            from_redis.total_events,
        )
        assert [(i.item, i.estimate) for i in from_cassandra.items] == [(i.item, i.estimate) for i in from_redis.items]
    reached, from_cassandra = queries.progress(), gone.progress()
    assert reached.counted_through == from_cassandra.counted_through == stored[0].start_ms + 3 * H
    assert abs(reached.written_at - from_cassandra.written_at) < 60_000  # the same writes, timed by each store
    api = TestClient(create_app(gone, ApiConfig(WINDOWS, max_k=CAPACITY)))
    newest = api.get("/api/v1/topk", params={"window": "1h", "k": 3}).json()
    assert newest["results"] and newest["metadata"]["freshness"]["counted_through"] == iso(reached.counted_through)
    assert (
        api.get("/api/v1/topk", params={"window": "1h", "value": "nowhere", "dimension": "region"}).status_code == 404
    )


def test_api_answers_and_rejects_bad_requests(servers, stored, queries):
    spec, _, events = stored
    api = TestClient(create_app(queries, ApiConfig(WINDOWS, max_k=CAPACITY)))
    hour = api.get("/api/v1/topk", params={"k": 5, "window": "1h"})
    assert hour.status_code == 200
    body = hour.json()
    assert body["metadata"]["window"] == "1h" and body["metadata"]["accuracy"] == "approximate"
    assert [r["rank"] for r in body["results"]] == [1, 2, 3, 4, 5]
    lo, hi = spec.start_ms + H, spec.start_ms + 2 * H
    hist = api.get("/api/v1/topk/historical", params={"k": 3, "start": str(lo), "end": str(hi), "mode": "exact"})
    assert [(r["item"], r["count"]) for r in hist.json()["results"]] == ranked(exact_range(events, lo, hi), 3)
    assert hist.json()["metadata"]["accuracy"] == "exact" and hist.json()["metadata"]["scan"]["files"] >= 1
    assert all(r["guaranteed"] for r in hist.json()["results"])  # exact counts: certainly the top-K
    count = api.get("/api/v1/count/item-1", params={"start": str(lo), "end": str(hi)})
    assert count.status_code == 200 and count.json()["results"][0]["item"] == "item-1"
    assert api.get("/health/live").status_code == 200
    assert api.get("/health/ready").json() == {"ready": True, "redis": True, "cassandra": True}
    assert "topk_api_requests_total" in api.get("/metrics").text
    assert "/api/v1/topk/historical" in api.get("/openapi.json").json()["paths"]

    iso_lo = "2026-01-01T00:00:00Z"
    for path, params in [
        ("/api/v1/topk", {"k": 0}),
        ("/api/v1/topk", {"k": CAPACITY + 1}),
        ("/api/v1/topk", {"window": "7m"}),
        ("/api/v1/topk", {"dimension": "bad dimension!"}),
        ("/api/v1/topk/historical", {"start": str(hi), "end": str(lo)}),
        ("/api/v1/topk/historical", {"start": "yesterday", "end": str(hi)}),
        ("/api/v1/topk/historical", {"start": iso_lo}),
        ("/api/v1/topk/historical", {"start": iso_lo, "end": "2026-01-02T00:00:00Z", "mode": "fuzzy"}),
        ("/api/v1/topk/historical", {"start": iso_lo, "end": iso_lo[:-1] + "1Z", "mode": "exact", "dimension": "x"}),
        ("/api/v1/topk/historical", {"start": "0", "end": "9999999999999"}),  # past --max-range-days
        ("/api/v1/topk/historical", {"start": "0", "end": "9999999999999", "mode": "exact"}),
        ("/api/v1/topk/historical", {"start": "9" * 15, "end": "9" * 16}),
    ]:
        r = api.get(path, params=params)
        assert 400 <= r.status_code < 500, (path, params, r.status_code)
        assert r.json()["detail"], (path, params)

    # times: those an event can have are answered, others refused naming the range, in both modes
    low, high = EVENT_TIME_RANGE_MS
    for mode in ("approximate", "exact"):
        for start, end in [(low, D), (high - D, high)]:
            r = api.get("/api/v1/topk/historical", params={"start": str(start), "end": str(end), "mode": mode})
            assert r.status_code == 200 and r.json()["results"] == [], r.text
        for path in ("/api/v1/topk/historical", "/api/v1/count/item-1"):
            far = {"start": "999999999000000", "end": "999999999999999", "mode": mode}
            r = api.get(path, params=far)
            assert r.status_code == 400 and "to 9999-01-01T00:00:00.000Z" in r.json()["detail"], r.text


ODD_ITEMS = [
    "/page/1",
    "/page/1?utm=x&y=z#top",
    "/",
    "a/",
    "50% off",
    "100%25",
    "a b",
    " a ",
    "+",
    ".",
    "..",
    "a/../b",
    "naïve café ☃ 漢字 🚀",
    "\t\n",
    "x" * 1024,
    "🚀" * 1024,
]
BIG = 3 * 2**31  # past 32 bits


def test_any_item_and_64_bit_counts_through_rest_and_graphql(servers, stored):
    """A minute stored with items a URL path cannot hold as they are and one count past 2**31 (a
    prefix of its own): each item's count through REST (?item= and the path), the series and GraphQL."""
    name = f"{stored[1]}_items"
    start = aligned_start(M, 10)
    weights = {item: 1_000 * (n + 1) for n, item in enumerate(ODD_ITEMS)} | {"big": BIG}
    sketch = HeavyHittersSketch(CAPACITY, 256, 3)
    for item, weight in weights.items():
        sketch.update(item, weight)
    result = WindowResult.of(sketch, window="1m", dimension="all", value="all", start=start, end=start + M, k=32)
    write_result(redis_connect(servers.redis_url), result, WINDOWS[0], name)
    api = TestClient(create_app(open_queries(servers, name), ApiConfig(WINDOWS, max_k=CAPACITY)))
    span = {"start": str(start), "end": str(start + M)}
    top = api.get("/api/v1/topk/historical", params={**span, "k": 32}).json()
    assert {r["item"]: r["count"] for r in top["results"]} == weights
    assert top["metadata"]["total_events"] == sum(weights.values())
    query = """query ($i: String!, $s: String!, $e: String!) {
      count(item: $i, start: $s, end: $e) { item count lowerBound upperBound }
      topK(k: 32, start: $s, end: $e) { totalEvents results { item count } }
      windows { label retentionMs } }"""
    for item, weight in weights.items():
        r = api.get("/api/v1/count", params={**span, "item": item})
        assert (r.status_code, r.json()["results"][0]["count"]) == (200, weight), item
        r = api.get("/api/v1/series", params={**span, "item": item, "window": "1m"})
        assert [p["count"] for p in r.json()["points"]] == [weight], item
        if item not in (".", "..") and "%2" not in item:  # (TestClient decodes a path's %XX twice)
            r = api.get(f"/api/v1/count/{quote(item, safe='')}", params=span)
            assert (r.status_code, r.json()["results"][0]["count"]) == (200, weight), item
        sent = json.dumps({"query": query, "variables": {"i": item, "s": span["start"], "e": span["end"]}})
        data = api.post("/graphql", content=sent, headers={"content-type": "application/json"}).json()
        assert "errors" not in data, data["errors"]
        assert data["data"]["count"] == {"item": item, "count": weight, "lowerBound": weight, "upperBound": weight}
        assert data["data"]["topK"]["totalEvents"] == sum(weights.values())
        assert {r["item"]: r["count"] for r in data["data"]["topK"]["results"]} == weights
        assert {w["label"]: w["retentionMs"] for w in data["data"]["windows"]}["1h"] == 90 * D  # 7,776,000,000
    refused = json.dumps({"query": query, "variables": {"i": "a\ud800", "s": span["start"], "e": span["end"]}})
    data = api.post("/graphql", content=refused, headers={"content-type": "application/json"}).json()
    assert "lone surrogate" in data["errors"][0]["message"]  # not hashed: mmh3 crashes the process on one


def test_absurd_ranges_cost_what_is_stored(servers, stored):
    """With no range limit at all, 1970 to 2286 merges the three stored hours and nothing else
    (its latency: scripts/bench.sh)."""
    _, run_id, events = stored
    api = TestClient(create_app(open_queries(servers, run_id, max_range_ms=2**62), ApiConfig(WINDOWS)))
    r = api.get("/api/v1/topk/historical", params={"start": "0", "end": "9999999999999", "k": 3})
    assert r.status_code == 200 and r.json()["metadata"]["windows_merged"] == 3
    assert r.json()["metadata"]["total_events"] == len(events)


def test_api_validates_events_as_the_job_does_and_posts_them(servers, stored, queries):
    topic = f"{stored[1]}-posted"
    producer = EventProducer(servers.kafka, topic)
    api = TestClient(create_app(queries, ApiConfig(WINDOWS), producer))
    now = int(time.time() * 1000)
    event = {"metadata": {"eventType": "search", "timestamp": now}, "payload": {"query": "flink"}}
    assert api.post("/api/v1/events", json=event).status_code == 202
    consumer = KafkaConsumer(topic, **servers.kafka.kafka_python(), auto_offset_reset="earliest")
    got = [m.value for batch in consumer.poll(timeout_ms=10_000).values() for m in batch]
    consumer.close()
    assert [json.loads(g) for g in got] == [event]
    for sent, status, reason in [
        ({"metadata": {"timestamp": now}, "payload": {"itemId": "x" * 2_000_000}}, 413, "too_large"),
        ({"metadata": {"timestamp": now}, "payload": {f"f{i}": i for i in range(200_000)}}, 413, "too_large"),
        ({"metadata": {"timestamp": now}, "payload": {"itemId": "x" * 1025}}, 422, "item_too_long"),
        ({"metadata": {"timestamp": now}, "payload": {"itemId": "x", "weight": -3}}, 422, "bad_weight"),
        ({"metadata": {"timestamp": 1767225600000}, "payload": {"itemId": "x"}}, 422, "timestamp_out_of_range"),
        ({"metadata": {"eventType": "page_view"}, "payload": {}}, 422, "missing_item"),
    ]:
        r = api.post("/api/v1/events", json=sent)
        assert (r.status_code, r.json()["reason"]) == (status, reason), r.json()
    r = api.post("/api/v1/events", content=b"{not json", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["reason"]) == (422, "invalid_json")
    producer.close()

    down = EventProducer(KafkaClient("127.0.0.1:1"), topic, timeout_s=2)  # no broker there
    r = TestClient(create_app(queries, ApiConfig(WINDOWS), down)).post("/api/v1/events", json=event)
    down.close()
    assert r.status_code == 503 and "Kafka" in r.json()["detail"]


def test_api_starts_and_answers_503_while_cassandra_is_unreachable(servers, stored):
    api = TestClient(create_app(open_queries(servers, stored[1], cassandra_port=1), ApiConfig(WINDOWS)))
    assert api.get("/health/ready").json() == {"ready": False, "redis": True, "cassandra": False}
    old = {"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"}  # nothing in Redis: Cassandra needed
    with_redis_down = open_queries(servers, stored[1], cassandra_port=1)
    with_redis_down.binary = redis.Redis(port=1)
    r = TestClient(create_app(with_redis_down, ApiConfig(WINDOWS))).get("/api/v1/topk/historical", params=old)
    assert r.status_code == 503 and r.json()["detail"].startswith("storage unavailable")


def test_api_token_and_rate_limit(queries):
    api = TestClient(create_app(queries, ApiConfig(WINDOWS, api_token="s3cret", rate_limit_per_minute=3)))
    assert api.get("/api/v1/topk", params={"window": "all"}).status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    codes = [api.get("/api/v1/topk", params={"window": "all"}, headers=auth).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert api.get("/health/live").status_code == 200  # health stays open


def test_retention_expires_minutes_in_both_stores_and_ranges_round_to_hours(servers, run_job):
    """Minute windows kept 90 minutes after they end (so the current hour's start is always kept):
    older ones are in neither store, a range starting among them is answered from hours, and says so."""
    run_id = f"ret{int(time.time())}"
    now = int(time.time() * 1000)
    start = now - now % H - 3 * H
    spec = StreamSpec(6_000, 200, 1.1, start, now - now % M - 2 * M - start, seed=13)
    events = publish(servers.kafka, run_id, spec)
    windows = parse_windows("1m,1h,all", "1m=90m")
    run_job(
        "--topic",
        run_id,
        "--group-id",
        run_id,
        "--dead-letter-topic",
        f"{run_id}-dlq",
        "--windows",
        "1m,1h,all",
        "--retention",
        "1m=90m",
        "--dimensions",
        "region",
        "--k",
        "5",
        "--cassandra-keyspace",
        run_id,
        "--redis-prefix",
        run_id,
    )
    per_minute = exact_counts(iter(events), M)
    horizon = windows[0].retained_since(int(time.time() * 1000))
    kept = [m for m in sorted(per_minute) if m >= horizon + M]  # (a minute on the edge may go either way)
    expired = [m for m in sorted(per_minute) if m < horizon - 5 * M]  # expired before the job wrote anything
    assert kept and expired
    r = redis_connect(servers.redis_url, decode_responses=False)
    assert not any(r.exists(window_key("1m", "all", "all", m, run_id)) for m in expired)
    indexed = {int(m) * M for m in r.zrange(index_key("1m", "all", "all", run_id), 0, -1)}
    assert not indexed & set(expired) and set(kept) <= indexed
    assert all(0 < r.ttl(window_key("1m", "all", "all", m, run_id)) <= 90 * 60 + 60 for m in kept)
    cluster, session = connect(CassandraConnection(port=servers.cassandra_port))
    try:
        ttls = {}
        for bucket in {m - m % D for m in per_minute}:
            rows = session.execute(
                f"SELECT window_start, TTL(summary) AS ttl FROM {run_id}.tenant_window_summaries "
                "WHERE tenant = 'default' AND window_size = '1m' AND dimension = 'all' AND dim_value = 'all' "
                "AND bucket = %s",
                (bucket,),
            )
            ttls.update({round(row.window_start.timestamp() * 1000): row.ttl for row in rows})
    finally:
        cluster.shutdown()
    assert not set(ttls) & set(expired) and set(kept) <= set(ttls)
    assert all(0 < ttl <= 90 * 60 + 60 for ttl in ttls.values())

    api = TestClient(create_app(open_queries(servers, run_id, windows), ApiConfig(windows)))
    end = kept[-1] + M
    meta = api.get("/api/v1/topk/historical", params={"start": str(start + 7 * M), "end": str(end)}).json()["metadata"]
    assert meta["rounded"]["start"] == "1h" and "expired" in meta["rounded"]["reason"]
    assert (meta["start"], meta["end"]) == (iso(start + H), iso(end)) and "end" not in meta["rounded"]
    assert meta["total_events"] == sum(sum(c.values()) for m, c in per_minute.items() if start + H <= m < end)


REQUEST_SECONDS = 10.0  # no request, valid or not, takes longer: the budgets bound what it reads
REQUEST_BYTES = 256 << 20  # nor holds more Python memory at once (tracemalloc; Arrow's buffers are not traced)
LOW, HIGH = EVENT_TIME_RANGE_MS
TIME_CORPUS = [
    "0",
    "1",
    str(HIGH),
    str(HIGH + 1),
    "999999999000000",
    "999999999999999",
    "9" * 16,
    "-1",
    "1e3",
    "",
    "2026-01-01T00:00Z",
    "9999-01-01T00:00:00Z",
    "9998-12-31T23:59:59.999+23:59",
    "0001-01-01T00:00Z",
    "yesterday",
]


def literal(text: str) -> str:
    """``text`` as a GraphQL string literal (a JSON string is one; a lone surrogate's escape is a syntax error)."""
    return json.dumps(text)


def count_lookup(item: str, start: str, end: str, mode: str) -> str:
    return f"count(item: {literal(item)}, start: {literal(start)}, end: {literal(end)}, mode: {mode}) {{ item count }}"


def top_lookup(k: int, window: str, dimension: str, start: str | None, end: str | None, mode: str) -> str:
    span = "".join(f", {name}: {literal(t)}" for name, t in (("start", start), ("end", end)) if t is not None)
    value = "eu-west" if dimension == "region" else dimension
    return (
        f"topK(k: {k}, window: {literal(window)}, dimension: {literal(dimension)}, value: {literal(value)}{span}, "
        f"mode: {mode}) {{ start end totalEvents results {{ item count upperBound }} }}"
    )


def graphql_requests(stored_times: list[str]) -> st.SearchStrategy[dict]:
    """GraphQL request bodies of 1 to 22 lookups over the item and time corpora (and any text): valid,
    refused, malformed; the item also as a variable (which can carry a lone surrogate)."""
    items = st.one_of(st.sampled_from([*ODD_ITEMS, "item-1", "", "x" * 1025, "a\ud800", "\x00"]), st.text(max_size=30))
    times = st.one_of(
        st.sampled_from(TIME_CORPUS + stored_times), st.integers(-(2**63), 2**63).map(str), st.text(max_size=20)
    )
    modes = st.sampled_from(["APPROXIMATE", "EXACT"])
    count = st.builds(count_lookup, items, times, times, modes)
    windows, dimensions = st.sampled_from(["1m", "1h", "all", "7m"]), st.sampled_from(["all", "region", "a b"])
    ks = st.integers(1, 20) | st.integers(-5, 2**40)
    top = st.builds(top_lookup, ks, windows, dimensions, st.none() | times, st.none() | times, modes)
    lookups = st.lists(st.one_of(count, top, st.just("windows { label sizeMs retentionMs }")), min_size=1, max_size=22)
    query = lookups.map(lambda ls: "{ " + " ".join(f"l{n}: {lookup}" for n, lookup in enumerate(ls)) + " }")
    by_variable = st.builds(
        lambda item, s, e: {
            "query": f"query($i: String!) {{ count(item: $i, start: {literal(s)}, end: {literal(e)}) {{ count }} }}",
            "variables": {"i": item},
        },
        items,
        times,
        times,
    )
    return st.one_of(query.map(lambda q: {"query": q, "variables": {}}), by_variable)


def test_no_request_gets_a_server_error(servers, stored, queries):
    """Fuzzes every operation from the API's OpenAPI schema: valid inputs and invalid ones
    (schemathesis' positive and negative modes), and GraphQL with queries over the item and time
    corpora, against the real stores and broker. Each request is timed: none may get a 5xx or take
    longer than ``REQUEST_SECONDS`` or hold more than ``REQUEST_BYTES`` of Python memory at once, and no
    exact answer may read past its budget."""
    producer = EventProducer(servers.kafka, f"{stored[1]}-fuzzed")
    app = create_app(queries, ApiConfig(WINDOWS), producer)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures, calls, slowest = [], Counter(), []

    def measured(request: Callable[[], object]) -> tuple[object, float, int]:
        """The response, the seconds it took and the most Python memory it held at once."""
        tracemalloc.reset_peak()
        held, started = tracemalloc.get_traced_memory()[0], time.perf_counter()
        response = request()
        return response, time.perf_counter() - started, tracemalloc.get_traced_memory()[1] - held

    def judge(label: tuple, measure: tuple[object, float, int]) -> None:
        response, seconds, memory = measure
        calls[(*label[:2], response.status_code)] += 1
        slowest.append((seconds, memory, label))
        if response.status_code >= 500 or seconds > REQUEST_SECONDS or memory > REQUEST_BYTES:
            failures.append((label, response.status_code, round(seconds, 2), memory, response.text[:300]))
        try:
            scan = response.json()["metadata"]["scan"]  # an exact answer's
        except (ValueError, TypeError, KeyError):
            return
        if scan["bytes"] > queries.max_exact_bytes:
            failures.append((label, "read past --max-exact-bytes", scan))

    def fuzz_rest(operation) -> None:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case) -> None:
                judge((case.method, case.path, case.formatted_path, case.query), measured(case.call))

            try:
                call()
            except Unsatisfiable:  # nothing can be invalid about e.g. GET /health/live
                assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label

    client = TestClient(app, raise_server_exceptions=False)
    spec = stored[0]
    stored_times = [str(spec.start_ms), str(spec.start_ms + 90 * M), iso(spec.start_ms + 3 * H)]

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(sent=graphql_requests(stored_times))
    def ask(sent: dict) -> None:
        content = json.dumps(sent)  # (ASCII: a lone surrogate as its JSON escape)
        post = partial(client.post, "/graphql", content=content, headers={"content-type": "application/json"})
        judge(("POST", "/graphql", sent["query"][:200], sent["variables"]), measured(post))

    tracemalloc.start()
    try:
        for found in schema.get_all_operations():
            fuzz_rest(found.ok())
        ask()
    finally:
        tracemalloc.stop()
    producer.close()
    assert not failures, failures[:5]
    statuses = {status for (_, _, status) in calls}
    assert sum(calls.values()) > 450 and {200, 400, 404, 422} <= statuses, calls
    assert sum(n for (method, path, _), n in calls.items() if method == "POST" and path != "/graphql") > 40, calls
    assert calls[("POST", "/graphql", 200)] > 100, calls
    print("slowest requests:", sorted(slowest, key=lambda x: -x[0])[:5])


def test_audit_command_compares_approximate_and_exact(servers, stored):
    """The audit of a range's top-K, its items above 2 % and its rises against the two ranges before it."""
    spec, run_id, _ = stored
    lo, hi = spec.start_ms + 97 * M, spec.start_ms + 2 * H + 41 * M
    audit = subprocess.run(
        [
            sys.executable,
            "-m",
            "topk.query.audit",
            "--start",
            str(lo),
            "--end",
            str(hi),
            "--k",
            str(K),
            "--phi",
            "0.02",
            "--baseline",
            "2",
            "--redis-url",
            servers.redis_url,
            "--cassandra-port",
            str(servers.cassandra_port),
            "--cassandra-keyspace",
            run_id,
            "--redis-prefix",
            run_id,
            "--windows",
            "1m,1h,all",
            "--archive-url",
            servers.archive_url(run_id),
            "--s3-endpoint-url",
            servers.s3_endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    out = audit.stdout.splitlines()
    assert f"precision@{K} 1.000   recall@{K} 1.000" in audit.stdout and "(0 wrongly)" in audit.stdout
    phi, trend = out.index("above phi 0.02:"), out.index("trend against 2 ranges before:")
    first = next(n for n, line in enumerate(out) if line.startswith("precision@"))
    top, above, rises = out[first + 2 : phi], out[phi + 2 : trend], out[trend + 2 :]
    assert len(top) == K and all(row.split()[-2] == "yes" for row in top)  # every true count within its bounds
    assert "complete True" in out[phi + 1] and "0 of them missing" in out[phi + 1] and above
    assert all(row.split()[-2] == "yes" for row in above)
    assert "0 unlisted past it" in out[trend + 1] and rises and all(row.split()[-2] == "yes" for row in rises)
