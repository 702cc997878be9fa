"""Answers over stored results: the newest window, any time range (by merging stored window
summaries), the count of one item, and exact answers from the Parquet archive (``mode=exact``).

Summaries come from Redis while it still has them (recent windows) and from Cassandra otherwise
(history). A tile with no summary in either had no events (or was never written).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import redis
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args

from connectors.cassandra_store import bucket_of, to_datetime
from connectors.redis_sink import DEFAULT_PREFIX, window_key
from jobs.settings import WindowSpec
from query.archive import EventArchive, Scan
from query.redis_topk import read_topk, window_starts
from query.tiling import tile
from sketches import HeavyHittersSketch, ItemCount
from sketches.accuracy import ranked

APPROXIMATE, EXACT = "approximate", "exact"


class NoArchive(LookupError):
    """``mode=exact`` asked of a query side with no archive configured."""


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


class TopKQueries:
    def __init__(
        self,
        client: redis.Redis,
        binary: redis.Redis,
        session: Session,
        keyspace: str,
        windows: list[WindowSpec],
        prefix: str = DEFAULT_PREFIX,
        archive: EventArchive | None = None,
    ) -> None:
        self.client, self.binary, self.session, self.keyspace = client, binary, session, keyspace
        self.prefix, self.archive = prefix, archive
        self.windows = {w.label: w for w in windows}
        self.base = min((w for w in windows if not w.is_all_time), key=lambda w: w.size_ms)
        self._summary = session.prepare(
            f"SELECT summary FROM {keyspace}.window_summaries "
            "WHERE window_size = ? AND dimension = ? AND dim_value = ? AND bucket = ? AND window_start = ?"
        )

    def latest(self, k: int, window: str, dimension: str, value: str) -> Answer | None:
        """The newest stored window of this size (Redis)."""
        starts = window_starts(self.client, window, dimension, value, self.prefix)
        for start in starts[:1] or ([0] if window == "all" else []):
            top = read_topk(self.client, window, dimension, value, start, k, self.prefix)
            if top is not None:
                return Answer(
                    top.items, top.window_start, top.window_end, top.total_events, top.error_bound, APPROXIMATE,
                    [f"{window}@{start}"],
                )  # fmt: skip
        return None

    def _summaries(self, tiles: list[tuple[WindowSpec, int]], dimension: str, value: str) -> list[bytes | None]:
        """One serialized summary per tile: Redis first, then Cassandra; None if neither has it."""
        keys = [window_key(w.label, dimension, value, s, self.prefix) + ":summary" for w, s in tiles]
        blobs = self.binary.mget(keys) if keys else []
        missing = [i for i, blob in enumerate(blobs) if blob is None]
        params = [
            (w.label, dimension, value, to_datetime(bucket_of(s, w.size_ms)), to_datetime(s))
            for w, s in (tiles[i] for i in missing)
        ]
        found = execute_concurrent_with_args(self.session, self._summary, params, raise_on_first_error=True)
        for i, (_, rows) in zip(missing, found, strict=True):
            row = rows.one()
            blobs[i] = row.summary if row is not None else None
        return blobs

    def merged_sketch(self, start: int, end: int, dimension: str, value: str) -> tuple[HeavyHittersSketch, Answer]:
        """The union of the stored summaries that tile [start, end), and what it covers."""
        tiling = tile(start, end, list(self.windows.values()))
        merged, used = None, []
        for (w, s), blob in zip(tiling.tiles, self._summaries(tiling.tiles, dimension, value), strict=True):
            if blob is not None:
                sketch = HeavyHittersSketch.deserialize(blob)
                if merged is None:
                    merged = sketch
                else:
                    merged.merge(sketch)
                used.append(f"{w.label}@{s}")
        merged = merged or HeavyHittersSketch(1, 1, 1)  # nothing stored: an empty answer
        total, err = merged.total_weight, merged.maximum_error
        return merged, Answer([], tiling.covered_start, tiling.covered_end, total, err, APPROXIMATE, used)

    def range_topk(self, k: int, start: int, end: int, dimension: str, value: str, mode: str = APPROXIMATE) -> Answer:
        if mode == EXACT:
            counts, answer = self.exact(start, end, dimension, value)
            return replace(answer, items=[ItemCount(x, c, c, c, True) for x, c in ranked(counts, k)])
        merged, answer = self.merged_sketch(start, end, dimension, value)
        return replace(answer, items=list(merged.top_k(k).items))

    def count(self, item: str, start: int, end: int, dimension: str, value: str, mode: str = APPROXIMATE) -> Answer:
        """One item's count over the range: bounds (Space-Saving and Count-Min, merged), or exact."""
        if mode == EXACT:
            counts, answer = self.exact(start, end, dimension, value)
            c = counts.get(item, 0)
            return replace(answer, items=[ItemCount(item, c, c, c)])
        merged, answer = self.merged_sketch(start, end, dimension, value)
        return replace(answer, items=[merged.count(item)])

    def exact(self, start: int, end: int, dimension: str, value: str) -> tuple[dict[str, int], Answer]:
        """Exact counts over exactly [start, end) from the archive, and what was read."""
        if self.archive is None:
            raise NoArchive("no archive configured: exact answers need --archive-url")
        counts, scan = self.archive.counts(start, end, dimension, value)
        return counts, Answer([], start, end, sum(counts.values()), 0, EXACT, scan=scan)
