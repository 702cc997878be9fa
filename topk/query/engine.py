"""Answers over stored results: the newest window, any time range (by merging stored window
summaries), the count of one item, and exact answers from the Parquet archive (``mode=exact``).

A range is tiled with the windows that were written (the catalogue: the Redis index, or
Cassandra's partitions while Redis is unreachable) and are still retained (``topk.query.tiling``).
Summaries come from Redis while it still has them (recent windows) and from Cassandra otherwise
(history, one ``IN`` query per partition; of the summaries the query side holds decoded, only
their write times), and are merged in one step. A question past a budget
(``topk.query.budgets``: the range's length, an exact answer's bytes of archive files) is refused
with ``OverBudget``.

A ``TopKQueries`` answers for one tenant (``default`` unless ``for_tenant`` says otherwise): every
key, partition and archive file it reads is that tenant's.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction

import redis
from redis.exceptions import RedisError

from topk.events import DEFAULT_TENANT, EVENT_TIME_RANGE_MS, check_tenant
from topk.query.archive import EventArchive, Scan
from topk.query.budgets import MAX_BASELINE_PERIODS, MAX_SERIES_WINDOWS, Budgets, OverBudget
from topk.query.summaries import Decoded, Summary, SummaryCache, content_version
from topk.query.tiling import Tiling, tile, widened
from topk.sketches import HeavyHittersSketch, ItemCount
from topk.sketches.heavy_hitters import Frequent
from topk.sketches.trend import Changes, changes, ratios
from topk.stores.cassandra_store import CassandraStore
from topk.stores.redis_store import (
    DEFAULT_PREFIX,
    newest_written,
    read_topk,
    tenant_prefix,
    window_starts,
    written,
)
from topk.stores.redis_store import summaries as redis_summaries
from topk.windows import DAY_MS, WindowSpec, by_size

APPROXIMATE, EXACT = "approximate", "exact"
Part = Summary | Decoded  # a stored summary to merge: as read, or as the cache held it


class NoArchive(LookupError):
    """``mode=exact`` asked of a query side with no archive configured."""


class NothingStored(LookupError):
    """A relative range (``last=3h``) asked of a tenant with no window stored yet."""


@dataclass(frozen=True)
class Progress:
    """How far a tenant's stored results reach: the end of its newest finest window written (every
    event before it is counted, but a late one within the allowed lateness) and when that was written."""

    counted_through: int
    written_at: int


@dataclass(frozen=True)
class Answer:
    """Ranked items with bounds (``lower_bound <= true count <= upper_bound``) and what they cover."""

    items: list[ItemCount]
    start: int
    end: int
    total_events: int
    error_bound: int  # guaranteed: no count in ``items`` is over-estimated by more than this
    accuracy: str
    windows: list[str] = field(default_factory=list)  # the stored windows merged, e.g. "1h@1767225600000"
    generated_at: int = field(default_factory=lambda: int(time.time() * 1000))
    scan: Scan | None = None  # exact answers: what was read from the archive
    rounded: dict[str, str] = field(default_factory=dict)  # "start"/"end" -> window size, where retention rounded


class TopKQueries:
    def __init__(
        self,
        client: redis.Redis,
        binary: redis.Redis,
        cassandra: CassandraStore,
        windows: list[WindowSpec],
        prefix: str = DEFAULT_PREFIX,
        archive: EventArchive | None = None,
        max_range_ms: int = Budgets().max_range_ms,
        cache: SummaryCache | None = None,
        max_exact_bytes: int = Budgets().max_exact_bytes,
    ) -> None:
        self.client, self.binary, self.cassandra = client, binary, cassandra
        self.base_prefix, self.archive, self.max_range_ms = prefix, archive, max_range_ms
        self.max_exact_bytes = max_exact_bytes
        self.tenant = DEFAULT_TENANT
        self.cache = cache or SummaryCache()
        self.windows = {w.label: w for w in windows}
        self.sized = by_size(windows)  # finest first

    def for_tenant(self, tenant: str) -> TopKQueries:
        """These queries, answered from ``tenant``'s results (sharing clients and cache)."""
        queries = copy.copy(self)
        queries.tenant = check_tenant(tenant)
        return queries

    @property
    def prefix(self) -> str:
        """The Redis key prefix of this tenant's results."""
        return tenant_prefix(self.base_prefix, self.tenant)

    def progress(self) -> Progress | None:
        """How far the tenant's results reach: the newest window of its ``all``/``all`` view (which every
        event counts in) of the finest size that has one (a tenant may keep coarser windows only, and
        finer ones expire first), all-time last; from Redis (two round trips), else from Cassandra (at
        most ``NEWEST_PARTITIONS`` reads a size); None if none is stored."""
        windows = [*by_size(self.windows.values()), *(w for w in self.windows.values() if w.is_all_time)]
        try:
            newest = newest_written(self.client, [w.label for w in windows], "all", "all", self.prefix)
            if newest is not None:
                return Progress(*newest)
        except RedisError:
            pass
        now = int(time.time() * 1000)
        for w in windows:
            stored = self.cassandra.newest(w, "all", "all", now, self.tenant)
            if stored is not None:
                return Progress(stored[1], stored[2].written_ms)
        return None

    def ready(self) -> dict[str, bool]:
        """Whether each store answers (Cassandra: and the job has created its tables)."""
        try:
            redis_ok = bool(self.client.ping())
        except RedisError:
            redis_ok = False
        return {"redis": redis_ok, "cassandra": self.cassandra.ready()}

    def latest(self, k: int, window: str, dimension: str, value: str) -> Answer | None:
        """The newest stored window of this size: from Redis, else (expired or evicted there, or Redis
        down) from its summary in Cassandra."""
        try:
            starts = window_starts(self.client, window, dimension, value, self.prefix, newest=1)
            for start in starts or ([0] if window == "all" else []):
                top = read_topk(self.client, window, dimension, value, start, k, self.prefix)
                if top is not None:
                    return Answer(
                        top.items,
                        top.window_start,
                        top.window_end,
                        top.total_events,
                        top.error_bound,
                        APPROXIMATE,
                        [f"{window}@{start}"],
                    )
        except RedisError:
            pass
        return self._latest_stored(k, self.windows[window], dimension, value)

    def _latest_stored(self, k: int, window: WindowSpec, dimension: str, value: str) -> Answer | None:
        newest = self.cassandra.newest(window, dimension, value, int(time.time() * 1000), self.tenant)
        if newest is None:
            return None
        start, end, stored = newest
        key = self._key(window.label, start, dimension, value)
        sketch = self.cache.merged([Summary(key, stored.written, stored.summary)])
        items = list(sketch.top_k(k).items)
        return Answer(
            items, start, end, sketch.total_weight, sketch.maximum_error, APPROXIMATE, [f"{window.label}@{start}"]
        )

    def check_range(self, start: int, end: int) -> None:
        if end - start > self.max_range_ms:
            days = self.max_range_ms / DAY_MS
            raise OverBudget(
                f"the range spans {(end - start) / DAY_MS:,.1f} days; at most {days:g} are answered (--max-range-days)"
            )

    def catalogue(
        self, windows: list[WindowSpec], dimension: str, value: str, start: int, end: int
    ) -> dict[str, list[int]]:
        """The starts in ``[start, end)`` of the stored windows of these sizes, per size."""
        try:
            return written(self.binary, [w.label for w in windows], dimension, value, start, end, self.prefix)
        except RedisError:  # Redis down: Cassandra has every retained window
            return {w.label: self.cassandra.written(w, dimension, value, start, end, self.tenant) for w in windows}

    def tiling(self, start: int, end: int, dimension: str, value: str) -> Tiling:
        """The stored windows that answer ``[start, end)``: those written (the catalogue) and retained."""
        self.check_range(start, end)
        catalogue = self.catalogue(self.sized, dimension, value, *widened(start, end, self.sized))
        return tile(start, end, self.sized, int(time.time() * 1000), catalogue)

    def _parts(self, tiles: list[tuple[WindowSpec, int]], dimension: str, value: str) -> list[Part | None]:
        """One part to merge per tile, None where no store has it: from Redis (versioned by its bytes),
        else from Cassandra (versioned by its write time: of the summaries the cache holds, only the
        write times are read; a 30-day range's ~75 summaries are ~2.5 MB). Cassandra is not asked
        when Redis has every tile."""
        ats = [(w.label, s) for w, s in tiles]
        try:
            blobs = redis_summaries(self.binary, ats, dimension, value, self.prefix)
        except RedisError:
            blobs = [None] * len(tiles)
        windows = [self._key(*at, dimension, value) for at in ats]
        parts: list[Part | None] = [
            None if blob is None else Summary(window, content_version(blob), blob)
            for window, blob in zip(windows, blobs, strict=True)
        ]
        missing = [i for i, part in enumerate(parts) if part is None]
        if not missing:
            return parts
        held = self.cache.held(windows[i] for i in missing)
        versions = {  # the write times of the held ones (a version from Redis, of bytes, is no use here)
            ats[i]: held[windows[i]].version
            for i in missing
            if windows[i] in held and isinstance(held[windows[i]].version, int)
        }
        stored = self.cassandra.summaries([tiles[i] for i in missing], dimension, value, self.tenant, versions)
        for i in missing:
            if ats[i] in stored:
                blob, version = stored[ats[i]]
                parts[i] = held[windows[i]] if blob is None else Summary(windows[i], version, blob)
        return parts

    def _key(self, label: str, start: int, dimension: str, value: str) -> tuple:
        """The stored window a summary is (shared by tenants and keyspaces)."""
        return self.prefix, self.cassandra.keyspace, label, dimension, value, start

    def merged_sketch(self, start: int, end: int, dimension: str, value: str) -> tuple[HeavyHittersSketch, Answer]:
        """The union of the stored summaries that tile [start, end), and what it covers."""
        tiling = self.tiling(start, end, dimension, value)
        found = [(t, p) for t, p in zip(tiling.tiles, self._parts(tiling.tiles, dimension, value), strict=True) if p]
        merged = self.cache.merged([p for _, p in found])
        used = [f"{w.label}@{s}" for (w, s), _ in found]
        finest = self.sized[0]
        edges = {"start": tiling.start_rounded_to, "end": tiling.end_rounded_to}
        rounded = {edge: w.label for edge, w in edges.items() if w != finest}
        answer = Answer(
            [],
            tiling.covered_start,
            tiling.covered_end,
            merged.total_weight,
            merged.maximum_error,
            APPROXIMATE,
            used,
            rounded=rounded,
        )
        return merged, answer

    def range_topk(self, k: int, start: int, end: int, dimension: str, value: str, mode: str = APPROXIMATE) -> Answer:
        if mode == EXACT:
            top, total, scan = self._archive(start, end).top(
                k, start, end, dimension, value, self.tenant, self.max_exact_bytes
            )
            return Answer([ItemCount(x, c, c, c, True) for x, c in top], start, end, total, 0, EXACT, scan=scan)
        merged, answer = self.merged_sketch(start, end, dimension, value)
        return replace(answer, items=list(merged.top_k(k).items))

    def frequent(self, phi: Fraction, start: int, end: int, dimension: str, value: str) -> tuple[Frequent, Answer]:
        """Every item whose count over the range may reach ``phi`` of its events (``frequent_items``)."""
        merged, answer = self.merged_sketch(start, end, dimension, value)
        found = merged.frequent_items(max(1, math.ceil(phi * merged.total_weight)))
        return found, replace(answer, items=list(found.items))

    def trending(
        self,
        k: int,
        start: int,
        end: int,
        periods: int,
        dimension: str,
        value: str,
        falling: bool = False,
        min_count: int | None = None,
    ) -> tuple[Changes, Answer, Answer]:
        """The ``k`` items whose count over ``[start, end)`` rose (fell) most against their mean over the
        ``periods`` ranges of the same length before it (``topk.sketches.trend``); with ``min_count``,
        those that grew by the largest multiple of it among the items counted at least that often
        (rises only: ``falling`` is then ignored); what each side covers."""
        if not 1 <= periods <= MAX_BASELINE_PERIODS:
            raise OverBudget(f"baseline: from 1 to {MAX_BASELINE_PERIODS} periods")
        since = max(EVENT_TIME_RANGE_MS[0], start - periods * (end - start))
        if since >= start:
            raise OverBudget("no time before the range for a baseline")
        current, now = self.merged_sketch(start, end, dimension, value)
        baseline, before = self.merged_sketch(since, start, dimension, value)
        if min_count is not None:
            return ratios(current, baseline, periods, k, min_count), now, before
        return changes(current, baseline, periods, k, falling=falling), now, before

    def count(self, item: str, start: int, end: int, dimension: str, value: str, mode: str = APPROXIMATE) -> Answer:
        """One item's count over the range: bounds (Space-Saving and Count-Min, merged), or exact."""
        if mode == EXACT:
            archive = self._archive(start, end)
            c, total, scan = archive.count(item, start, end, dimension, value, self.tenant, self.max_exact_bytes)
            return Answer([ItemCount(item, c, c, c)], start, end, total, 0, EXACT, scan=scan)
        merged, answer = self.merged_sketch(start, end, dimension, value)
        return replace(answer, items=[merged.count(item)])

    def series(
        self, item: str, window: WindowSpec, start: int, end: int, dimension: str, value: str
    ) -> list[tuple[int, ItemCount]]:
        """One item's bounds in each stored window of size ``window`` starting in ``[start, end)``,
        oldest first. ``OverBudget`` past ``MAX_SERIES_WINDOWS`` windows."""
        self.check_range(start, end)
        if -(-(end - start) // window.size_ms) > MAX_SERIES_WINDOWS:
            raise OverBudget(f"more than {MAX_SERIES_WINDOWS} {window.label} windows: choose a larger window")
        tiles = [(window, s) for s in self.catalogue([window], dimension, value, start, end)[window.label]]
        parts = self._parts(tiles, dimension, value)
        return [(s, self.cache.merged([p]).count(item)) for (_, s), p in zip(tiles, parts, strict=True) if p]

    def _archive(self, start: int, end: int) -> EventArchive:
        """The archive, for a range within the budget."""
        if self.archive is None:
            raise NoArchive("no archive configured: exact answers need --archive-url")
        self.check_range(start, end)
        return self.archive

    def exact(self, start: int, end: int, dimension: str, value: str) -> tuple[dict[str, int], Answer]:
        """Every item's exact count over exactly [start, end) from the archive (for the audit: an
        answer ranks or picks in Arrow), and what was read."""
        archive = self._archive(start, end)
        counts, scan = archive.counts(start, end, dimension, value, self.tenant, self.max_exact_bytes)
        return counts, Answer([], start, end, sum(counts.values()), 0, EXACT, scan=scan)
