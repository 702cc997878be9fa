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
import itertools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from topk.sketches.ranking import ItemCount, TopK, top_k_of

# Counts and errors in the smallest unsigned type that holds them, items as one UTF-8 block (one decode
# per summary) separated by U+0000, or, if an item contains one, with their lengths in characters
# (tests/golden/summaries.json pins the bytes; the JVM writes and reads them alike).
FORMAT_VERSION = 2
_MAGIC = b"SS"
_HEADER = struct.Struct("<2sBIIqq")  # magic, version, capacity, n items, floor, total weight
_TYPES_V2 = struct.Struct("<BBB")  # type codes of counts, errors, item lengths (into _UNSIGNED; or _SEPARATED)
_UNSIGNED = ("<u1", "<u2", "<u4", "<u8")
_SEPARATED = 255  # no lengths: items separated by U+0000


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
        kept, first_dropped = _largest(values, self.capacity, keys.__getitem__)
        self.floor = max(self.floor, first_dropped)
        self._counts = {keys[i]: self._counts[keys[i]] for i in kept}
        self._errors = {keys[i]: self._errors[keys[i]] for i in kept}

    def columns(self, ids: dict[str, int]) -> Columns:
        """This summary as arrays, its items numbered in ``ids`` (new items are added to it)."""
        n = len(self._counts)
        numbers = np.fromiter((ids.setdefault(x, len(ids)) for x in self._counts), np.int64, n)
        counts = np.fromiter(self._counts.values(), np.int64, n)
        errors = np.fromiter(map(self._errors.__getitem__, self._counts), np.int64, n)
        return Columns(numbers, counts, errors, self.floor, self.total_weight, self.capacity)

    @classmethod
    def merge_all(cls, parts: Sequence[SpaceSaving]) -> SpaceSaving:
        """One summary of the union of ``parts``, merged in one step (``merge_columns``)."""
        ids: dict[str, int] = {}
        columns = [p.columns(ids) for p in parts]
        return merge_columns(columns, list(ids))

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
        ``topk.sketches.ranking``'s rule with the floor as the bound on unmonitored items."""
        items, counts, errors = self.arrays()
        return top_k_of(items, counts, counts - errors, counts, k, self.floor)

    def arrays(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Every monitored item, its counter and its error (int64), in one order."""
        n = len(self._counts)
        counts = np.fromiter(self._counts.values(), np.int64, n)
        return list(self._counts), counts, np.fromiter(map(self._errors.__getitem__, self._counts), np.int64, n)

    def bounds_of(self, items: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds (int64) on the counts of ``items``, monitored or not (``0`` and
        ``floor`` when not)."""
        counts, errors, floor, n = self._counts, self._errors, self.floor, len(items)
        upper = np.fromiter((counts.get(x, floor) for x in items), np.int64, n)
        return upper - np.fromiter((errors.get(x, floor) for x in items), np.int64, n), upper

    def items(self) -> list[ItemCount]:
        """Every monitored item with its bounds (estimate = counter), in no particular order."""
        errors = self._errors
        return [ItemCount(x, c, c - errors[x], c) for x, c in self._counts.items()]

    def serialize(self) -> bytes:
        """Items ranked by count (ties by item), so equal summaries serialize equally."""
        ranked = sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0]))
        header = _HEADER.pack(_MAGIC, FORMAT_VERSION, self.capacity, len(ranked), self.floor, self.total_weight)
        counts = np.fromiter((c for _, c in ranked), np.int64, len(ranked))
        errors = np.fromiter((self._errors[x] for x, _ in ranked), np.int64, len(ranked))
        columns = [_narrowest(counts), _narrowest(errors)]
        codes = [_UNSIGNED.index(t) for t, _ in columns]
        items = [x for x, _ in ranked]
        text = "\x00".join(items)
        if text.count("\x00") != max(0, len(items) - 1):
            lengths = np.fromiter(map(len, items), np.int64, len(items))  # an item holds U+0000: store lengths
            columns.append(_narrowest(lengths))
            codes.append(_UNSIGNED.index(columns[-1][0]))
            text = "".join(items)
        else:
            codes.append(_SEPARATED)
        body = [c.astype(t).tobytes() for t, c in columns]
        return b"".join([header, _TYPES_V2.pack(*codes), *body, text.encode("utf-8", "surrogatepass")])

    @classmethod
    def deserialize(cls, data: bytes) -> SpaceSaving:
        d = decode(data)
        summary = cls(d.capacity)
        summary.floor, summary.total_weight = d.floor, d.total_weight
        summary._counts = dict(zip(d.items, d.counts.tolist(), strict=True))
        summary._errors = dict(zip(d.items, d.errors.tolist(), strict=True))
        summary._heap = None
        return summary

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpaceSaving) and self.serialize() == other.serialize()


@dataclass(frozen=True)
class Decoded:
    """A serialized summary's fields, its counters as arrays (``decode``)."""

    items: list[str]
    counts: np.ndarray  # int64
    errors: np.ndarray  # int64
    floor: int
    total_weight: int
    capacity: int


@dataclass(frozen=True)
class Columns:
    """A summary as arrays, its items as numbers into a table of names: what ``merge_columns`` reads.
    The query side keeps decoded stored summaries in this form, numbered once, so merging hundreds
    of them is array work, not string work."""

    ids: np.ndarray  # int64, distinct
    counts: np.ndarray  # int64
    errors: np.ndarray  # int64
    floor: int
    total_weight: int
    capacity: int


def decode(data: bytes) -> Decoded:
    """The fields of a serialized summary (format 2), without building the summary."""
    magic, version, capacity, n, floor, total = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != FORMAT_VERSION:
        raise ValueError(f"not a Space-Saving summary of format {FORMAT_VERSION}: {magic!r} v{version}")
    off, columns = _HEADER.size + _TYPES_V2.size, []
    for code in _TYPES_V2.unpack_from(data, _HEADER.size):
        if code != _SEPARATED:
            columns.append(np.frombuffer(data, _UNSIGNED[code], n, off))
            off += n * np.dtype(_UNSIGNED[code]).itemsize
    counts, errors, *lengths = columns
    text = data[off:].decode("utf-8", "surrogatepass")
    if not lengths:
        items = text.split("\x00") if n else []
    else:
        ends = list(itertools.accumulate(lengths[0].tolist()))
        items = [text[end - length : end] for end, length in zip(ends, lengths[0].tolist(), strict=True)]
    return Decoded(items, counts.astype(np.int64), errors.astype(np.int64), floor, total, capacity)


def total_weight_of(data: bytes, offset: int = 0) -> int:
    """The total weight of the serialized summary at ``offset`` of ``data``, read from its header."""
    return _HEADER.unpack_from(data, offset)[5]


def merge_columns(parts: Sequence[Columns], names: Sequence[str]) -> SpaceSaving:
    """One summary of the union of ``parts`` (items numbered into ``names``), merged in one step:
    the n-way form of ``SpaceSaving.merge`` (an item missing from a part counts that part's floor,
    then the ``capacity`` largest are kept, ties by name). The guarantees hold as for pairwise
    merges, and it costs one array pass over all counters."""
    merged = SpaceSaving(max(p.capacity for p in parts))
    merged.total_weight = sum(p.total_weight for p in parts)
    base = sum(p.floor for p in parts)
    ids = np.concatenate([p.ids for p in parts])
    # each part's counters and errors in excess of its floor, summed per item (float64: exact below 2**53)
    extra_counts = np.concatenate([p.counts - p.floor for p in parts]).astype(np.float64)
    extra_errors = np.concatenate([p.errors - p.floor for p in parts]).astype(np.float64)
    if ids.size and int(ids.max()) < 8 * ids.size:  # numbers dense enough to count by position
        size = int(ids.max()) + 1
        present = np.flatnonzero(np.bincount(ids, minlength=size))
        counts = np.bincount(ids, extra_counts, size)[present]
        errors = np.bincount(ids, extra_errors, size)[present]
    else:
        present, where = np.unique(ids, return_inverse=True)
        counts = np.bincount(where, extra_counts, len(present))
        errors = np.bincount(where, extra_errors, len(present))
    counts, errors = base + counts.astype(np.int64), base + errors.astype(np.int64)
    kept, first_dropped = _largest(counts, merged.capacity, lambda i: names[present[i]])
    merged.floor = max(base, first_dropped)
    kept_names = [names[i] for i in present[kept].tolist()]
    merged._counts = dict(zip(kept_names, counts[kept].tolist(), strict=True))
    merged._errors = dict(zip(kept_names, errors[kept].tolist(), strict=True))
    merged._heap = None
    return merged


def _largest(values: np.ndarray, m: int, key: Callable[[int], str]) -> tuple[list[int], int]:
    """Indices of the ``m`` largest ``values`` (ties: smallest ``key(index)`` first) and the
    largest value left out (0 if none is)."""
    n = len(values)
    if n <= m:
        return list(range(n)), 0
    part = np.partition(values, (n - m - 1, n - m))
    last_kept, first_dropped = int(part[n - m]), int(part[n - m - 1])
    kept = np.flatnonzero(values > last_kept).tolist()
    tied = np.flatnonzero(values == last_kept).tolist()
    kept += heapq.nsmallest(m - len(kept), tied, key=key)
    return kept, first_dropped


def _narrowest(values: np.ndarray) -> tuple[str, np.ndarray]:
    """The smallest unsigned little-endian type that holds ``values`` (all >= 0), and the values."""
    largest = int(values.max()) if values.size else 0
    return next(t for t in _UNSIGNED if largest < 1 << (8 * np.dtype(t).itemsize)), values
