"""A bundle's results written together (connectors/bundle_end.py) on the real stores: in order,
so a window written twice in one bundle ends as its later result, on Redis, a Redis Cluster and
Cassandra (whose writes are all in flight at once)."""

from __future__ import annotations

import pytest

from tests.integration.helpers import aligned_start, stored_top
from topk.sketches import HeavyHittersSketch
from topk.stores.cassandra_connection import CassandraConnection
from topk.stores.cassandra_store import CassandraStore
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import window_key, write_results
from topk.window_result import WindowResult
from topk.windows import parse_windows

pytestmark = pytest.mark.integration
MINUTE = 60_000
WINDOWS = parse_windows("1m,all")


def bundle(start: int) -> list[WindowResult]:
    """Three results: minute ``start`` of "eu" twice (the later differs), then of "us"."""
    out = []
    for value, counts in [("eu", {"a": 2, "b": 1}), ("eu", {"a": 5, "c": 7}), ("us", {"d": 3})]:
        sketch = HeavyHittersSketch(capacity=16, cms_width=64, cms_depth=3)
        for item, n in counts.items():
            sketch.update(item, n)
        out.append(
            WindowResult.of(sketch, window="1m", dimension="region", value=value, start=start, end=start + MINUTE, k=5)
        )
    return out


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
        for _ in range(5):  # in flight together, the same row each time: the later write wins
            for future in [f for result in results for f in store.write_async(result)]:
                future.result()
            assert store.summaries(WINDOWS[0], "region", "eu", [start]) == {start: results[1].summary}
    finally:
        store.close()
