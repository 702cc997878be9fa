"""Space-Saving summary (Metwally, Agrawal & El Abbadi, 2005) with weighted, mergeable updates.

The summary monitors at most ``capacity`` (m) items, each with a counter ``c(x)`` and an
error ``e(x)``, and keeps a ``floor``: the most any unmonitored item can have been seen.
For a stream of total weight N (non-negative weights), these hold deterministically,
also after any sequence of ``merge`` calls (Cafaro et al., "parallel Space Saving"):

* monitored x:   ``c(x) - e(x) <= f(x) <= c(x)``;
* unmonitored x: ``f(x) <= floor``;
* ``floor <= N / m``, so every item with ``f(x) > N / m`` is monitored.

Ties are broken by item, so the same input in the same order always gives the same summary.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Sequence

import numpy as np

from sketches.ranking import ItemCount, TopK, top_k

FORMAT_VERSION = 1
_MAGIC = b"SS"
_HEADER = struct.Struct("<2sBIIqq")  # magic, version, capacity, n items, floor, total weight


class SpaceSaving:
    """Top-k frequent items with guaranteed per-item bounds."""

    def __init__(self, capacity: int = 1024) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.total_weight = 0
        self.floor = 0
        self._counts: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._heap: list[tuple[int, str]] | None = []  # (count, item), lazily updated; None: rebuild

    def __len__(self) -> int:
        return len(self._counts)

    @property
    def is_empty(self) -> bool:
        return self.total_weight == 0

    def __repr__(self) -> str:
        n, floor = self.total_weight, self.floor
        return f"SpaceSaving(capacity={self.capacity}, monitored={len(self)}, N={n}, floor={floor})"

    @property
    def maximum_error(self) -> int:
        """Largest possible over-estimate of any item, monitored or not (<= N / capacity).

        Every error ``e(x)`` was the floor when ``x`` was admitted, and the floor never falls.
        """
        return self.floor

    def update(self, item: str, weight: int = 1) -> None:
        """Add ``weight`` (>= 0) to ``item``; evicts the smallest counter when full."""
        if weight < 0:
            raise ValueError("Space-Saving weights must be non-negative")
        self.total_weight += weight
        if self._heap is None:
            self._rebuild_heap()
        if item in self._counts:
            self._counts[item] += weight
        else:
            if len(self._counts) >= self.capacity:
                self.floor = max(self.floor, self._evict_min())
            self._counts[item] = self.floor + weight
            self._errors[item] = self.floor
        heapq.heappush(self._heap, (self._counts[item], item))
        if len(self._heap) > 4 * self.capacity + 16:
            self._rebuild_heap()

    def update_batch(self, items: Sequence[str], weights: Sequence[int] | np.ndarray) -> None:
        """Add a batch of (item, weight) pairs, merged as one exact summary (the guarantees above hold).

        Python-level work is O(capacity), whatever the batch size: monitored items are found by a
        set intersection, and of the items not yet monitored only the ``capacity`` heaviest can
        survive (ties in batch order), the next one raises the floor, the rest are not looked at.
        Batches with repeated items are summed first.
        """
        w = np.asarray(weights, dtype=np.int64)
        if len(w) != len(items):
            raise ValueError("items and weights differ in length")
        if w.size and w.min() < 0:
            raise ValueError("Space-Saving weights must be non-negative")
        batch = dict(zip(items, w.tolist(), strict=True))
        if len(batch) < len(items):  # repeated items: sum them
            batch = dict.fromkeys(batch, 0)
            for item, weight in zip(items, w.tolist(), strict=True):
                batch[item] += weight
            w = np.fromiter(batch.values(), dtype=np.int64, count=len(batch))
        keys = list(batch)
        counts, errors, floor = self._counts, self._errors, self.floor
        for item in counts.keys() & batch.keys():
            counts[item] += batch[item]
        self.total_weight += int(w.sum())
        admitted = 0
        for i in np.argsort(-w, kind="stable").tolist():  # heaviest first, ties in batch order
            item = keys[i]
            if item in counts:  # monitored before this batch (batch items are distinct)
                continue
            if admitted == self.capacity:  # the heaviest new item left out bounds all left out
                self.floor = max(self.floor, floor + batch[item])
                break
            counts[item] = floor + batch[item]
            errors[item] = floor
            admitted += 1
        if len(counts) > self.capacity:
            self._keep_largest()
        self._heap = None

    def _keep_largest(self) -> None:
        """Keep the ``capacity`` largest counters (ties by item); the largest dropped raises the floor."""
        keys = list(self._counts)
        values = np.fromiter(self._counts.values(), dtype=np.int64, count=len(keys))
        n, m = len(keys), self.capacity
        part = np.partition(values, (n - m - 1, n - m))
        last_kept, first_dropped = int(part[n - m]), int(part[n - m - 1])
        kept = [keys[i] for i in np.flatnonzero(values > last_kept).tolist()]
        tied = [keys[i] for i in np.flatnonzero(values == last_kept).tolist()]
        kept += heapq.nsmallest(m - len(kept), tied)
        self.floor = max(self.floor, first_dropped)
        self._counts = {x: self._counts[x] for x in kept}
        self._errors = {x: self._errors[x] for x in kept}

    def merge(self, other: SpaceSaving) -> None:
        """Merge ``other`` into this summary; the bounds above still hold for the union."""
        mine, my_err, my_floor = self._counts, self._errors, self.floor
        keys = mine.keys() | other._counts.keys()
        self._counts = {x: mine.get(x, my_floor) + other._counts.get(x, other.floor) for x in keys}
        self._errors = {x: my_err.get(x, my_floor) + other._errors.get(x, other.floor) for x in keys}
        self.floor = my_floor + other.floor
        self.total_weight += other.total_weight
        if len(self._counts) > self.capacity:
            self._keep_largest()
        self._heap = None

    def _evict_min(self) -> int:
        while True:
            count, item = heapq.heappop(self._heap)
            if self._counts.get(item) == count:
                del self._counts[item]
                del self._errors[item]
                return count

    def _rebuild_heap(self) -> None:
        self._heap = [(c, x) for x, c in self._counts.items()]
        heapq.heapify(self._heap)

    def estimate(self, item: str) -> int:
        """Upper-bound estimate: the counter if monitored, else ``floor``."""
        return self._counts.get(item, self.floor)

    def lower_bound(self, item: str) -> int:
        return self._counts[item] - self._errors[item] if item in self._counts else 0

    def upper_bound(self, item: str) -> int:
        return self.estimate(item)

    def top_k(self, k: int) -> TopK:
        """The ``k`` largest counters, highest first (ties by item), flagged ``guaranteed`` by
        ``sketches.ranking``'s rule with the floor as the bound on unmonitored items."""
        return top_k(self.items(), k, self.floor)

    def items(self) -> list[ItemCount]:
        """Every monitored item with its bounds (estimate = counter), in no particular order."""
        errors = self._errors
        return [ItemCount(x, c, c - errors[x], c) for x, c in self._counts.items()]

    def serialize(self) -> bytes:
        ranked = sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0]))
        encoded = [x.encode("utf-8") for x, _ in ranked]
        header = _HEADER.pack(_MAGIC, FORMAT_VERSION, self.capacity, len(ranked), self.floor, self.total_weight)
        counts = np.array([c for _, c in ranked], dtype="<i8")
        errors = np.array([self._errors[x] for x, _ in ranked], dtype="<i8")
        lengths = np.array([len(b) for b in encoded], dtype="<u4")
        return b"".join([header, counts.tobytes(), errors.tobytes(), lengths.tobytes(), *encoded])

    @classmethod
    def deserialize(cls, data: bytes) -> SpaceSaving:
        magic, version, capacity, n, floor, total = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != FORMAT_VERSION:
            raise ValueError(f"not a Space-Saving summary of format {FORMAT_VERSION}: {magic!r} v{version}")
        off = _HEADER.size
        counts = np.frombuffer(data, "<i8", n, off).tolist()
        errors = np.frombuffer(data, "<i8", n, off + 8 * n).tolist()
        lengths = np.frombuffer(data, "<u4", n, off + 16 * n).tolist()
        pos, items = off + 20 * n, []
        for length in lengths:
            items.append(data[pos : pos + length].decode("utf-8"))
            pos += length
        summary = cls(capacity)
        summary.floor, summary.total_weight = floor, total
        summary._counts = dict(zip(items, counts, strict=True))
        summary._errors = dict(zip(items, errors, strict=True))
        summary._heap = None
        return summary

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpaceSaving) and self.serialize() == other.serialize()
