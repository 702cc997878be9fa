"""Range queries: latency of answers merged from stored windows, from Redis and from Cassandra,
and the bytes a stored window takes.

The stores are filled through the job's own writers with 31 days of one dimension value: day
windows for 31 days, hour windows for 30, minute windows for the last 2 (the default retention),
each a full summary (capacity 1024, every window exceeds it) of a Zipf 1.1 stream over a
1M-item universe. Each query asks the top-100 of a random range of 1, 7 or 30 days with ragged
ends (minutes), ending within the last day; and, over 1 and 30 days, the threshold answer (every
item above 1 %) and the trend against the range before (baseline 1: two merges). The Cassandra path
is the same queries after the summaries are deleted from Redis (the catalogue stays). "cache off":
every stored summary is decoded for every query; "cache on": the API's default
(topk.query.summaries.SummaryCache); "cold" counts the queries that decoded a summary the cache
lacked, "warm p99" is the p99 of the others.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from fastapi.testclient import TestClient

from topk.generator.shapes import zipf_ranks
from topk.query.api import ApiConfig, create_app
from topk.query.engine import TopKQueries
from topk.query.summaries import SummaryCache
from topk.sketches import HeavyHittersSketch
from topk.stores.cassandra_connection import CassandraConnection
from topk.stores.cassandra_store import CassandraStore
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import write_result
from topk.window_result import WindowResult
from topk.windows import DAY_MS, HOUR_MS, parse_windows

MINUTE_MS = 60_000
WINDOWS = parse_windows("1m,1h,1d,all")
EVENTS = {"1m": 5_000, "1h": 60_000, "1d": 400_000}  # per window: every one exceeds capacity 1024


KINDS = {  # what is asked of a range: its top-100, every item above 1 %, what rose most against the range before
    "top-100": lambda q, lo, hi: q.range_topk(100, lo, hi, "all", "all").windows,
    "above 1 %": lambda q, lo, hi: q.frequent(Fraction(1, 100), lo, hi, "all", "all")[1].windows,
    "trending": lambda q, lo, hi: [w for a in q.trending(100, lo, hi, 1, "all", "all")[1:] for w in a.windows],
}


@dataclass(frozen=True)
class Latency:
    path: str  # redis | cassandra
    cache: str  # on | off
    kind: str  # of KINDS
    days: int
    queries: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    tiles: float  # stored windows merged per query, mean
    cold: int  # queries that decoded a summary (the cache lacked one)
    warm_p99_ms: float | None  # p99 of the others (None: fewer than two)


def stored_windows(now_ms: int) -> Iterator[tuple[str, int]]:
    today = now_ms - now_ms % DAY_MS
    for d in range(31):
        yield "1d", today - (d + 1) * DAY_MS
    hour = now_ms - now_ms % HOUR_MS
    for h in range(1, 30 * 24 + 1):
        yield "1h", hour - h * HOUR_MS
    minute = now_ms - now_ms % MINUTE_MS
    for m in range(1, 2 * 24 * 60 + 1):
        yield "1m", minute - m * MINUTE_MS


def window_result(label: str, start: int, events: int, rng: np.random.Generator, capacity: int = 1024) -> WindowResult:
    """The result the job would store for a window of ``events`` Zipf 1.1 events (1M-item universe)."""
    size = next(w.size_ms for w in WINDOWS if w.label == label)
    ranks = zipf_ranks(rng, events, 1_000_000, 1.1)
    ids, counts = np.unique(ranks, return_counts=True)
    order = np.lexsort((ids, -counts))
    sketch = HeavyHittersSketch(capacity)
    sketch.update_batch([f"item-{i}" for i in ids[order].tolist()], counts[order])
    return WindowResult.of(sketch, window=label, dimension="all", value="all", start=start, end=start + size, k=100)


def populate(redis_url: str, cassandra: CassandraStore, prefix: str, now_ms: int) -> dict[str, list[int]]:
    """Writes the windows; returns the summary sizes (bytes) per window size."""
    rng, client, sizes = np.random.default_rng(7), redis_connect(redis_url), {"1m": [], "1h": [], "1d": []}
    specs = {w.label: w for w in WINDOWS}
    for label, start in stored_windows(now_ms):
        r = window_result(label, start, EVENTS[label], rng)
        write_result(client, r, specs[label], prefix)
        cassandra.write(r)
        sizes[label].append(len(r.summary))
    return sizes


def ranges(now_ms: int, days: int, n: int, seed: int) -> list[tuple[int, int]]:
    rng, out = np.random.default_rng(seed), []
    for _ in range(n):
        end = now_ms - now_ms % MINUTE_MS - int(rng.integers(1, 24 * 60)) * MINUTE_MS
        out.append((end - days * DAY_MS + int(rng.integers(-59, 60)) * MINUTE_MS, end))
    return out


def measure(queries: TopKQueries, path: str, cache: str, kind: str, days: int, n: int, now_ms: int) -> Latency:
    times, tiles, warm = [], [], []
    for start, end in ranges(now_ms, days, n, seed=days):
        misses, started = queries.cache.misses, time.perf_counter()
        merged = KINDS[kind](queries, start, end)
        times.append((time.perf_counter() - started) * 1000)
        tiles.append(len(merged))
        if queries.cache.misses == misses:
            warm.append(times[-1])
    q = statistics.quantiles(times, n=100, method="inclusive")
    warm_p99 = statistics.quantiles(warm, n=100, method="inclusive")[98] if len(warm) > 1 else None
    return Latency(path, cache, kind, days, n, q[49], q[94], q[98], statistics.mean(tiles), n - len(warm), warm_p99)


def run(redis_url: str, cassandra_port: int, n: int = 100) -> tuple[list[Latency], dict[str, float], dict[str, float]]:
    """Latencies per path, cache mode and span; the absurd range's latency; mean summary bytes."""
    name = f"rangebench{int(time.time())}"
    now = int(time.time() * 1000)
    writer = CassandraStore(CassandraConnection(port=cassandra_port), name, WINDOWS, create_schema=True)
    sizes = populate(redis_url, writer, name, now)
    writer.close()

    stores: list[CassandraStore] = []

    def queries(cache: SummaryCache) -> TopKQueries:
        store = CassandraStore(CassandraConnection(port=cassandra_port), name, WINDOWS)
        stores.append(store)
        text, binary = redis_connect(redis_url), redis_connect(redis_url, decode_responses=False)
        return TopKQueries(text, binary, store, list(WINDOWS), name, cache=cache)

    results = []
    for path in ("redis", "cassandra"):
        if path == "cassandra":  # the summaries only in Cassandra now; the catalogue stays in Redis
            client = redis_connect(redis_url)
            keys = list(client.scan_iter(f"{{{name}:*:summary", count=1000))  # {prefix:W:D:V}:S:summary
            if not keys:
                raise RuntimeError("no summary found in Redis to delete: the Cassandra rows would read Redis")
            for key in keys:
                client.delete(key)
        for cache in ("off", "on"):
            q = queries(SummaryCache(max_bytes=0 if cache == "off" else SummaryCache().max_bytes))
            q.range_topk(10, now - DAY_MS, now, "all", "all")  # connect before timing
            for days in (1, 7, 30):
                results.append(measure(q, path, cache, "top-100", days, n, now))
            for kind in ("above 1 %", "trending"):
                for days in (1, 30):
                    results.append(measure(q, path, cache, kind, days, n, now))
    api = TestClient(create_app(queries(SummaryCache()), ApiConfig(WINDOWS)))
    api.get("/health/ready")
    started = time.perf_counter()
    api.get("/api/v1/topk/historical", params={"start": "0", "end": "9999999999999"})
    absurd = {"refused through the API (past --max-range-days 400)": (time.perf_counter() - started) * 1000}
    unlimited = queries(SummaryCache())
    unlimited.max_range_ms = 2**62
    unlimited.range_topk(10, now - DAY_MS, now, "all", "all")
    started = time.perf_counter()
    unlimited.range_topk(100, 0, 9_999_999_999_999, "all", "all")
    absurd["answered from what is stored (no range limit)"] = (time.perf_counter() - started) * 1000
    for store in stores:
        store.close()
    return results, absurd, {label: statistics.mean(s) for label, s in sizes.items()}


def summary_bytes(label: str, events: int) -> int:
    """Serialized size of one window's summary holding ``events`` events."""
    return len(window_result(label, 0, events, np.random.default_rng(3)).summary)
