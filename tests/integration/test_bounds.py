"""What a client can grow stays bounded: a million distinct values of one dimension make at most
``--max-values`` groups (and one ``(other)``) a window, every event is still counted, and the other
dimensions' answers stay exact (at parallelism 2, so each subtask takes its own first values and
the values across them are folded again: ``GroupsOf.java``, then ``ValuesPerWindow.java``); a tenant's
quota cannot be had twice for one second; event times no window can hold are dead letters."""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict

import numpy as np
import pytest
import redis

from tests.integration.helpers import aligned_start, counts_between, produce, read_topic, stored_top
from tests.integration.test_archive import archived
from topk.generator.events import StreamSpec, encode, event_time_ms, exact_counts, generate
from topk.generator.produce import send
from topk.query.tenants import main as tenants_cli
from topk.sketches.accuracy import ranked
from topk.stores.archive_layout import DEAD_LETTERS
from topk.stores.kafka_client import ensure_topic
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import window_key

pytestmark = pytest.mark.integration
H, M = 3_600_000, 60_000
MAX_VALUES, K = 100, 5
FLOOD = 1_000_000


def flood(start: int, span: int) -> list[tuple[int, bytes]]:
    """A million events (time, record), each of its own new ``category`` value, over 50 items and no region."""
    rng = np.random.default_rng(33)
    names = rng.integers(1 << 40, size=FLOOD)
    times = np.sort(rng.integers(span, size=FLOOD)) + start
    return [
        (
            t,
            b'{"metadata":{"eventType":"generic","timestamp":%d},"payload":{"itemId":"flood-%d","category":"v%x-%d"}}'
            % (t, i % 50, n, i),
        )
        for i, (t, n) in enumerate(zip(times.tolist(), names.tolist(), strict=True))
    ]


def meta(r: redis.Redis, key: str) -> dict[str, str]:
    return r.hgetall(key + ":meta")


def test_a_million_values_of_one_dimension_stay_bounded_and_the_rest_exact(servers, run_id, run_job):
    topic, start = f"values_{run_id}", aligned_start(H, 3)
    good = list(generate(StreamSpec(6_000, 200, 1.1, start, 10 * M, seed=31)))
    flooded = flood(start, 10 * M)
    ensure_topic(servers.kafka, topic, partitions=2)
    records = heapq.merge([(event_time_ms(e), encode(e)) for e in good], flooded)  # in time order, as they happen
    send(servers.kafka, topic, (record for _, record in records))

    run_job(
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--group-id",
        topic,
        "--redis-prefix",
        topic,
        "--cassandra-keyspace",
        topic,
        "--windows",
        "1m,1h,all",
        "--dimensions",
        "region,category",
        "--k",
        str(K),
        "--max-values",
        str(MAX_VALUES),
        "--parallelism",
        "2",
        timeout=1500,
    )

    r = redis_connect(servers.redis_url)
    per_minute: dict[int, set[str]] = defaultdict(set)
    for key in r.scan_iter(match=f"{{{topic}:1m:category:*", count=10_000):
        if key.endswith(":meta"):
            view, _, minute = key.removesuffix(":meta").rpartition(":")
            per_minute[int(minute) * M].add(view.removeprefix(f"{{{topic}:1m:category:").removesuffix("}"))
    minutes = sorted(exact_counts(iter(good), M))
    assert sorted(per_minute) == minutes
    flood_per_minute = Counter(t - t % M for t, _ in flooded)
    for m in minutes:
        values = per_minute[m]
        assert len(values) == MAX_VALUES + 1 and "(other)" in values, (m, len(values))  # bounded, and all counted
        totals = sum(int(meta(r, window_key("1m", "category", v, m, topic))["totalEvents"]) for v in values)
        goods = [e for e in good if m <= event_time_ms(e) < m + M]
        assert (
            totals
            == len(goods) + flood_per_minute[m]
            == int(meta(r, window_key("1m", "all", "all", m, topic))["totalEvents"])
        )
        for region in ("eu-west", "us-east"):  # the dimension nobody flooded: exact
            key = window_key("1m", "region", region, m, topic)
            assert stored_top(r, key) == ranked(counts_between(goods, m, m + M, "region", region), K), key
    hour_values = {v for v in per_minute.values() for v in v}
    assert len(hour_values) <= len(minutes) * (MAX_VALUES + 1)  # views (and their state) grow by the cap, not the flood


def test_an_old_second_never_gets_its_quota_again(servers, run_id, start_job):
    """A tenant with a quota of 2 a second, while the watermark is held back (a partition that got one
    early record and then nothing): after more seconds than the gate tracks, events for the first
    second are refused, not counted afresh."""
    topic, start = f"quota_{run_id}", aligned_start(H, 3)
    config = ("--bootstrap-servers", servers.bootstrap, "--config-topic", f"{topic}-config")
    assert tenants_cli(["set", "--tenant", "q", "--quota", "2", "--at", str(start), *config]) == 0
    ensure_topic(servers.kafka, topic, partitions=2)
    records = [(encode(quota_event(start)), start, 1)]  # partition 1: one early record, which holds the watermark
    records += [(encode(quota_event(t)), t, 0) for t in (start + 10, start + 20)]
    records += [(encode(quota_event(start + s * 1000)), start + s * 1000, 0) for s in range(1, 3_700)]
    sent = start + 3_699_000
    records += [(encode(quota_event(start + 30 + i)), sent, 0) for i in range(3)]  # the first second, again
    produce(servers.kafka, topic, records)
    start_job(
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--group-id",
        topic,
        *config,
        "--redis-prefix",
        topic,
        "--cassandra-keyspace",
        topic,
        "--windows",
        "1m,all",
        "--k",
        "5",
    )
    letters = read_topic(servers.kafka, f"{topic}-dlq", expected=4, timeout_s=240)
    assert [d["reason"] for d in letters] == ["over_quota"] * 4  # the first record of partition 1, and the three


def quota_event(ts: int) -> dict:
    return {"metadata": {"eventType": "generic", "timestamp": ts, "tenantId": "q"}, "payload": {"itemId": "x"}}


def test_event_times_no_window_can_hold_are_dead_letters(servers, run_id, run_job):
    """A broker configured to take any Kafka timestamp: an event of 9999-12-31 (its hour would end in
    year 10000) is dead-lettered, as is a bad record stamped then; both jobs finish, the rest is exact."""
    topic, start = f"far_{run_id}", aligned_start(H, 2)
    good = list(generate(StreamSpec(600, 30, 1.1, start, 5 * M, seed=34)))
    far = 253_402_298_000_000  # 9999-12-31T23:29:20Z
    ensure_topic(servers.kafka, topic, partitions=1, configs={"message.timestamp.after.max.ms": str(2**63 - 1)})
    late_event = {"metadata": {"eventType": "generic", "timestamp": far}, "payload": {"itemId": "x"}}
    records = [(encode(e), event_time_ms(e), None) for e in good] + [(encode(late_event), far, None)]
    produce(servers.kafka, topic, [*records, (b"{not json", far, None)])
    common = ("--topic", topic, "--group-id", topic, "--dimensions", "region")
    run_job(
        *common,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--redis-prefix",
        topic,
        "--cassandra-keyspace",
        topic,
        "--windows",
        "1m,1h,all",
        "--k",
        str(K),
    )
    run_job(*common, "--archive-url", servers.archive_url(topic), module="jobs.archive_job")

    letters = read_topic(servers.kafka, f"{topic}-dlq", expected=2)
    assert sorted(d["reason"] for d in letters) == ["invalid_json", "timestamp_out_of_range"]
    assert {d["kafkaTimestamp"] for d in letters} == {far}
    r = redis_connect(servers.redis_url)
    for minute, counts in exact_counts(iter(good), M).items():
        assert stored_top(r, window_key("1m", "all", "all", minute, topic)) == ranked(counts, K)
    dead = archived(servers.archive_url(topic), servers.s3_endpoint, DEAD_LETTERS)
    assert sorted(dead["reason"].to_pylist()) == ["invalid_json", "timestamp_out_of_range"]
