"""A bundle's results written together (connectors/bundle_end.py) on the real stores: in order,
so a window written twice in one bundle ends as its later result, on Redis, a Redis Cluster and
Cassandra (whose writes are all in flight at once); and the query side reading Cassandra's summaries
once, and a rewritten one again."""

from __future__ import annotations

from dataclasses import replace

import pytest
import redis

from tests.integration.helpers import aligned_start, stored_top
from topk.query.engine import TopKQueries
from topk.sketches import HeavyHittersSketch
from topk.stores.cassandra_connection import CassandraConnection
from topk.stores.cassandra_store import CassandraStore, item_rows
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import window_key, write_results
from topk.times import utc
from topk.window_result import WindowResult
from topk.windows import parse_windows

pytestmark = pytest.mark.integration
MINUTE = 60_000
WINDOWS = parse_windows("1m,all")


def minute(value: str, start: int, counts: dict[str, int]) -> WindowResult:
    sketch = HeavyHittersSketch(capacity=16, cms_width=64, cms_depth=3)
    for item, n in counts.items():
        sketch.update(item, n)
    return WindowResult.of(sketch, window="1m", dimension="region", value=value, start=start, end=start + MINUTE, k=5)


def bundle(start: int) -> list[WindowResult]:
    """Three results: minute ``start`` of "eu" twice (the later differs), then of "us"."""
    return [minute(v, start, c) for v, c in [("eu", {"a": 2, "b": 1}), ("eu", {"a": 5, "c": 7}), ("us", {"d": 3})]]


def test_a_bundle_written_at_once_ends_as_written_in_order(servers, run_id):
    start = aligned_start(MINUTE, 3)
    results = bundle(start)
    windows = {w.label: w for w in WINDOWS}
    for url in (servers.redis_url, servers.redis_cluster_url):
        r = redis_connect(url)
        write_results(r, results, windows, prefix=run_id)
        assert stored_top(r, window_key("1m", "region", "eu", start, run_id)) == [("c", 7), ("a", 5)]
        assert stored_top(r, window_key("1m", "region", "us", start, run_id)) == [("d", 3)]

    store = CassandraStore(CassandraConnection(port=servers.cassandra_port), f"w_{run_id}", WINDOWS, create_schema=True)
    try:
        versions = []  # each rewrite's write time, the version the query side's cache keeps summaries by
        for _ in range(5):  # in flight together, the same row each time: the later write wins
            for future in [f for result in results for f in store.write_async(result)]:
                future.result()
            at, held = ("1m", start), {("1m", start): versions[-1]} if versions else None
            stored = store.summaries([(WINDOWS[0], start)], "region", "eu", held=held)  # held: rewritten since
            assert {at: got.summary for at, got in stored.items()} == {at: results[1].summary}
            unchanged = store.summaries([(WINDOWS[0], start)], "region", "eu", held={at: stored[at].written})
            assert unchanged == {at: (None, stored[at].written)}  # held as written: no bytes read
            versions.append(stored[at].written)
        assert versions == sorted(set(versions)), "a rewrite kept its version: a cache would serve the old one"
    finally:
        store.close()


def test_cassandra_summaries_are_read_once_and_a_rewritten_one_again(servers, run_id, monkeypatch):
    """With Redis down, a range's summaries come from Cassandra; asked again, the query side reads
    only their write times (its cache holds them decoded); a window rewritten (late events) is read
    again, and the answer counts the rewrite."""
    start = aligned_start(MINUTE, 5)
    store = CassandraStore(CassandraConnection(port=servers.cassandra_port), f"c_{run_id}", WINDOWS, create_schema=True)
    down = redis.Redis(port=1)
    queries = TopKQueries(down, down, store, list(WINDOWS), run_id)
    read, summaries = [], store.summaries

    def reading(*args):
        got = summaries(*args)
        read.append(sorted(s for (_, s), stored in got.items() if stored.summary is not None))
        return got

    monkeypatch.setattr(store, "summaries", reading)
    try:
        for n in range(3):
            store.write(minute("eu", start + n * MINUTE, {"a": n + 1, "b": 2}))
        first = queries.range_topk(5, start, start + 3 * MINUTE, "region", "eu")
        assert (first.total_events, read) == (12, [[start, start + MINUTE, start + 2 * MINUTE]])
        again = queries.range_topk(5, start, start + 3 * MINUTE, "region", "eu")
        assert again.items == first.items and again.windows == first.windows and read[1:] == [[]]
        store.write(minute("eu", start + MINUTE, {"a": 10, "c": 5}))
        rewritten = queries.range_topk(5, start, start + 3 * MINUTE, "region", "eu")
        assert read[2:] == [[start + MINUTE]] and rewritten.total_events == 3 + 15 + 5
        assert [(i.item, i.estimate) for i in rewritten.items] == [("a", 14), ("c", 5), ("b", 4)]
    finally:
        store.close()


def test_item_rows_are_the_bytes_bind_makes(servers, run_id):
    sketch = HeavyHittersSketch(capacity=16, cms_width=64, cms_depth=3)
    for n, item in enumerate(["a", "é ü", "☃", "x" * 300, "0"], 1):
        sketch.update(item, n * n)
    result = WindowResult.of(
        sketch, window="1m", dimension="region", value="Zürich", start=aligned_start(MINUTE, 2), end=0, k=4
    )
    items = [replace(i, guaranteed=bool(n % 2)) for n, i in enumerate(result.items)]  # both kinds
    store = CassandraStore(CassandraConnection(port=servers.cassandra_port), f"b_{run_id}", WINDOWS, create_schema=True)
    try:
        statement = store._prepared("ITEM")
        part = ("acme", "1m", "region", "Zürich", utc(result.window_start))
        rows = list(item_rows(statement, part, items, 3_600, store.session.cluster.protocol_version))
        for rank, (row, i) in enumerate(zip(rows, items, strict=True), 1):
            bound = statement.bind((*part, rank, i.item, i.estimate, i.lower_bound, i.upper_bound, i.guaranteed, 3_600))
            assert (row.values, row.routing_key) == (bound.values, bound.routing_key)
    finally:
        store.close()


def test_a_keyspace_named_in_capitals_is_the_one_cassandra_folds_it_to(servers, run_id):
    """Unquoted in CQL, ``Results_<id>`` is keyspace ``results_<id>``: written and read as that one."""
    start = aligned_start(MINUTE, 2)
    stores = [
        CassandraStore(CassandraConnection(port=servers.cassandra_port), name, WINDOWS, create_schema=True)
        for name in (f"Results_{run_id}", f"results_{run_id}")
    ]
    try:
        result = minute("eu", start, {"a": 2})
        stores[0].write(result)
        for store in stores:
            assert store.summaries([(WINDOWS[0], start)], "region", "eu")[("1m", start)].summary == result.summary
    finally:
        for store in stores:
            store.close()
