"""The query side over results the real job stored: range answers merged from many windows
(approximate, capacity 64), exact mode from the archive job's Parquet files on S3, count of one
item, the audit command, and the REST API's validation, auth and rate limit."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from connectors.cassandra_store import connect as cassandra_connect
from connectors.redis_sink import connect as redis_connect
from generator.events import StreamSpec, exact_counts
from generator.produce import producer
from jobs.settings import parse_window
from query.api import ApiConfig, create_app
from query.archive import EventArchive
from query.engine import EXACT, TopKQueries
from sketches.accuracy import ranked, wrongly_guaranteed
from tests.integration.helpers import aligned_start, counts_between, publish

pytestmark = pytest.mark.integration
M, H = 60_000, 3_600_000
K, CAPACITY = 8, 64  # the stream's 8th and 9th items are far apart (ranks 2 and 3 of each event type)
WINDOWS = tuple(parse_window(w) for w in ("1m", "1h", "all"))


@pytest.fixture(scope="module")
def stored(servers, run_job):
    """A 3-hour skewed stream through the real top-K job and the archive job; returns
    (spec, run id: topic, keyspace and archive name, events)."""
    run_id = f"q{int(time.time())}"
    spec = StreamSpec(12_000, 1_000, 1.2, aligned_start(H, 4), 3 * H, seed=11)
    events = publish(servers.bootstrap, run_id, spec)
    common = ("--topic", run_id, "--group-id", run_id, "--dimensions", "region")
    run_job(
        *common, "--dead-letter-topic", f"{run_id}-dlq", "--windows", "1m,1h,all", "--k", str(K),
        "--capacity", str(CAPACITY), "--cassandra-keyspace", run_id,
    )  # fmt: skip
    run_job(*common, "--archive-url", servers.archive_url(run_id), module="jobs.archive_job")
    return spec, run_id, events


@pytest.fixture(scope="module")
def queries(servers, stored):
    cluster, session = cassandra_connect(["127.0.0.1"], servers.cassandra_port)
    yield TopKQueries(
        redis_connect(servers.redis_url), redis_connect(servers.redis_url, decode_responses=False), session,
        stored[1], list(WINDOWS), archive=EventArchive(servers.archive_url(stored[1]), servers.s3_endpoint),
    )  # fmt: skip
    cluster.shutdown()


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


def test_api_answers_and_rejects_bad_requests(servers, stored, queries):
    spec, topic, events = stored
    api = TestClient(create_app(queries, ApiConfig(WINDOWS, max_k=CAPACITY, topic=topic)))
    hour = api.get("/api/v1/topk", params={"k": 5, "window": "1h"})
    assert hour.status_code == 200
    body = hour.json()
    assert body["metadata"]["window"] == "1h" and body["metadata"]["accuracy"] == "approximate"
    assert [r["rank"] for r in body["results"]] == [1, 2, 3, 4, 5]
    lo, hi = spec.start_ms + H, spec.start_ms + 2 * H
    hist = api.get("/api/v1/topk/historical", params={"k": 3, "start": str(lo), "end": str(hi), "mode": "exact"})
    assert [(r["item"], r["count"]) for r in hist.json()["results"]] == ranked(exact_range(events, lo, hi), 3)
    assert hist.json()["metadata"]["accuracy"] == "exact" and hist.json()["metadata"]["scan"]["files"] >= 1
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
    ]:
        r = api.get(path, params=params)
        assert 400 <= r.status_code < 500, (path, params, r.status_code)
        assert r.json()["detail"]
    assert api.post("/api/v1/events", json={"metadata": {"eventType": "page_view"}, "payload": {}}).status_code == 422
    json_type = {"content-type": "application/json"}
    assert api.post("/api/v1/events", content=b"{not json", headers=json_type).status_code == 422


def test_api_posts_events_to_kafka(servers, stored, queries):
    topic = f"{stored[1]}-posted"
    api = TestClient(create_app(queries, ApiConfig(WINDOWS, topic=topic), producer(servers.bootstrap)))
    event = {"metadata": {"eventType": "search", "timestamp": 1767225600000}, "payload": {"query": "flink"}}
    assert api.post("/api/v1/events", json=event).status_code == 202
    consumer = KafkaConsumer(topic, bootstrap_servers=servers.bootstrap, auto_offset_reset="earliest")
    got = [m.value for batch in consumer.poll(timeout_ms=10_000).values() for m in batch]
    consumer.close()
    assert got and b'"query":"flink"' in got[0]


def test_api_token_and_rate_limit(queries):
    api = TestClient(create_app(queries, ApiConfig(WINDOWS, api_token="s3cret", rate_limit_per_minute=3)))
    assert api.get("/api/v1/topk", params={"window": "all"}).status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    codes = [api.get("/api/v1/topk", params={"window": "all"}, headers=auth).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert api.get("/health/live").status_code == 200  # health stays open


def test_audit_command_compares_approximate_and_exact(servers, stored):
    spec, run_id, _ = stored
    lo, hi = spec.start_ms + 37 * M, spec.start_ms + 2 * H + 11 * M
    audit = subprocess.run(
        [
            sys.executable, "-m", "query.audit", "--start", str(lo), "--end", str(hi), "--k", str(K),
            "--redis-url", servers.redis_url, "--cassandra-port", str(servers.cassandra_port),
            "--cassandra-keyspace", run_id, "--windows", "1m,1h,all",
            "--archive-url", servers.archive_url(run_id), "--s3-endpoint-url", servers.s3_endpoint,
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert f"precision@{K} 1.000   recall@{K} 1.000" in audit.stdout
    rows = [line.split() for line in audit.stdout.splitlines()[3:]]
    assert len(rows) == K and all(row[-2] == "yes" for row in rows)  # every true count within its bounds
    assert "(0 wrongly)" in audit.stdout
