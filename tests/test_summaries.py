"""Stored summaries decoded once and merged as arrays (``topk.query.summaries``), and which store
the query side asks for them (``TopKQueries._parts``: Redis, then Cassandra for write times only of
what the cache holds)."""

from __future__ import annotations

import random
import sys
from concurrent.futures import ThreadPoolExecutor

from topk.query.engine import TopKQueries
from topk.query.summaries import Decoded, Summary, SummaryCache
from topk.sketches import CountMinSketch, HeavyHittersSketch, ItemCount
from topk.stores.cassandra_store import Stored
from topk.stores.redis_store import window_key
from topk.windows import WindowSpec, parse_windows


def test_counts_past_32_bits_merge():
    """A Count-Min table with a cell past 2**32 is stored as uint64, and merges as any other."""
    parts = [HeavyHittersSketch(8, 64, 2) for _ in range(2)]
    for sketch in parts:
        sketch.update("x", 2**33)
    parts[1].update("y", 5)
    merged = SummaryCache().merged([Summary(n, 0, sketch.serialize()) for n, sketch in enumerate(parts)])
    assert merged.count("x") == ItemCount("x", 2**34, 2**34, 2**34, False)
    assert merged.total_weight == 2**34 + 5


def summaries(n: int, seed: int = 5) -> list[bytes]:
    """``n`` serialized summaries over overlapping items of a pool of 3,000 (capacity 32: lossy)."""
    rng = random.Random(seed)
    blobs = []
    for _ in range(n):
        sketch = HeavyHittersSketch(32, 64, 2)
        for _ in range(rng.randint(1, 120)):
            sketch.update(f"item-{int(rng.paretovariate(0.8)) % 3_000}", rng.randint(1, 50))
        blobs.append(sketch.serialize())
    return blobs


def answer(sketch: HeavyHittersSketch) -> tuple:
    return sketch.total_weight, sketch.top_k(32).items, [sketch.count(f"item-{i}") for i in range(5)]


def test_a_shared_cache_answers_as_no_cache_under_threads_and_eviction():
    """Eight threads merge random sets of summaries (20 windows, each in 3 versions: rewritten)
    through one tiny cache (a few entries, 150 names: it evicts and starts its table of names over
    all the time), every other request passing what the cache ``held`` where its version is the one
    asked, as the Cassandra path does (those taken before the table started over are numbered
    again); every answer equals the one merged by a cache of its own: none is stale."""
    blobs = summaries(60)
    rng = random.Random(7)
    requests = [
        [Summary(w, v, blobs[20 * v + w]) for w, v in ((w, rng.randrange(3)) for w in rng.sample(range(20), 6))]
        for _ in range(800)
    ]
    expected = [answer(SummaryCache().merged(parts)) for parts in requests]
    shared = SummaryCache(max_bytes=4 * len(blobs[0]), max_names=150)

    def ask(n: int) -> tuple:
        parts = requests[n]
        if n % 2:
            held = shared.held(p.window for p in parts)
            parts = [held[p.window] if p.window in held and held[p.window].version == p.version else p for p in parts]
        return answer(shared.merged(parts))

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often: a race shows
    try:
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(ask, range(len(requests))))
    finally:
        sys.setswitchinterval(switching)
    wrong = [n for n, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b]
    assert not wrong, f"{len(wrong)} of {len(requests)} answers differ"
    assert shared.hits and shared.misses


def test_summaries_of_two_count_min_widths_merge_folded_to_the_narrower():
    """A tenant's Count-Min size changed within a range (``topk.tenant_config``): its windows merge."""
    wide, narrow = HeavyHittersSketch(8, 64, 3), HeavyHittersSketch(8, 16, 2)
    for n, sketch in enumerate((wide, narrow)):
        for i in range(40):
            sketch.update(f"item-{i}", 1 + (i + n) % 7)
    merged = SummaryCache().merged([Summary(0, 0, wide.serialize()), Summary(1, 0, narrow.serialize())])
    assert merged.count_min == CountMinSketch.merge_all([wide.count_min, narrow.count_min])
    assert merged.total_weight == wide.total_weight + narrow.total_weight


def test_a_rewritten_window_replaces_its_entry_and_its_bytes():
    """A window decoded at a second version is held once, at that version, and counted once in the
    cache's bytes (its memory bound)."""
    first, second = summaries(2)
    cache = SummaryCache()
    cache.merged([Summary("w", 1, first)])
    cache.merged([Summary("w", 2, second)])
    (held,) = cache.held(["w"]).values()
    assert held.version == 2 and cache._bytes == held.nbytes
    assert cache.merged([held]).total_weight == HeavyHittersSketch.deserialize(second).total_weight


class Redis:
    """Summaries under their Redis keys (what ``redis_store.summaries`` reads with MGET)."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    def mget(self, keys: list[str]) -> list[bytes | None]:
        return [self.blobs.get(k) for k in keys]


class Cassandra:
    """Stored rows (label, start) -> (summary, write time), answering as ``CassandraStore.summaries``
    does; records what it was asked."""

    keyspace = "ks"

    def __init__(self, rows: dict[tuple[str, int], tuple[bytes, int]]) -> None:
        self.rows, self.asked = rows, []

    def summaries(self, windows, dimension, value, tenant, held) -> dict[tuple[str, int], Stored]:
        self.asked.append(({(w.label, s) for w, s in windows}, dict(held)))
        found = {}
        for w, s in windows:
            if (w.label, s) in self.rows:
                blob, written = self.rows[w.label, s]
                found[w.label, s] = Stored(None if held.get((w.label, s)) == written else blob, written)
        return found


def redis_key(window: WindowSpec, start: int) -> str:
    return window_key(window.label, "all", "all", start, "topk") + ":summary"


def test_summaries_come_from_redis_then_cassandra_which_sends_held_ones_write_times_only():
    minute, hour = parse_windows("1m,1h")
    tiles, blobs = [(minute, 0), (minute, 60_000), (hour, 3_600_000)], summaries(4)
    in_redis = {redis_key(*t): b for t, b in zip(tiles[:2], blobs[:2], strict=True)}
    cassandra = Cassandra({("1h", 3_600_000): (blobs[2], 7), ("1m", 0): (blobs[3], 5)})
    queries = TopKQueries(None, Redis(in_redis), cassandra, [minute, hour])

    parts = queries._parts(tiles, "all", "all")
    assert [type(p) for p in parts] == [Summary, Summary, Summary] and parts[2].version == 7
    assert cassandra.asked == [({("1h", 3_600_000)}, {})]
    queries.cache.merged(parts)

    again = queries._parts(tiles, "all", "all")  # held: only its write time is asked, and it is the same
    assert isinstance(again[2], Decoded) and cassandra.asked[1] == ({("1h", 3_600_000)}, {("1h", 3_600_000): 7})

    del in_redis[redis_key(minute, 0)]  # expired in Redis
    moved = queries._parts(tiles, "all", "all")  # the cache holds it by its bytes: no write time to send
    assert cassandra.asked[2] == ({("1m", 0), ("1h", 3_600_000)}, {("1h", 3_600_000): 7})
    assert moved[0] == Summary(moved[0].window, 5, blobs[3])

    queries.binary = Redis({**in_redis, redis_key(minute, 0): blobs[0], redis_key(hour, 3_600_000): blobs[2]})
    assert all(isinstance(p, Summary) for p in queries._parts(tiles, "all", "all"))
    assert len(cassandra.asked) == 3, "Cassandra asked though Redis had every tile"
