"""The window summary: a Space-Saving summary plus a Count-Min Sketch over the same stream.

Both structures only ever over-estimate, so their minimum is still a guaranteed upper bound:

* ``lower_bound(x) = c(x) - e(x)``                      (Space-Saving, guaranteed)
* ``upper_bound(x) = min(SpaceSaving.upper(x), CMS(x))`` (both guaranteed >= f(x))
* ``estimate(x) = upper_bound(x)``                     (what is reported and ranked by)

Space-Saving answers *which* items are candidates (the monitored ones); the Count-Min Sketch
tightens their upper bounds and answers the count of any item, monitored or not. The top-K is
the k monitored items with the largest *tightened* estimates, so nothing left out reports a
larger count than something returned; ``topk.sketches.ranking`` says which are guaranteed.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from topk.sketches.count_min import CountMinSketch
from topk.sketches.ranking import ItemCount, TopK, top_k_of
from topk.sketches.space_saving import SpaceSaving, total_weight_of

FORMAT_VERSION = 1
_HEADER = struct.Struct("<2sBI")  # magic, version, length of the Space-Saving part


class HeavyHittersSketch:
    """Space-Saving (capacity m) + Count-Min (width w, depth d); mergeable and serializable."""

    def __init__(self, capacity: int = 1024, cms_width: int = 2048, cms_depth: int = 5) -> None:
        self.space_saving = SpaceSaving(capacity)
        self.count_min = CountMinSketch(cms_width, cms_depth)

    @property
    def total_weight(self) -> int:
        return self.space_saving.total_weight

    @property
    def maximum_error(self) -> int:
        """Guaranteed bound on any item's over-estimate (Space-Saving floor, <= N / capacity)."""
        return self.space_saving.maximum_error

    @property
    def is_empty(self) -> bool:
        return self.total_weight == 0

    def __repr__(self) -> str:
        return f"HeavyHittersSketch({self.space_saving!r}, {self.count_min!r})"

    def update(self, item: str, weight: int = 1) -> None:
        self.update_batch([item], [weight])

    def update_batch(self, items: Sequence[str], weights: Sequence[int] | np.ndarray) -> None:
        self.space_saving.update_batch(items, weights)
        self.count_min.update_batch(items, weights)

    def merge(self, other: HeavyHittersSketch) -> None:
        self.space_saving.merge(other.space_saving)
        self.count_min.merge(other.count_min)

    @classmethod
    def merge_all(cls, sketches: Sequence[HeavyHittersSketch]) -> HeavyHittersSketch:
        """One sketch of the union of ``sketches``, merged in one step (``SpaceSaving.merge_all``)."""
        space_saving = SpaceSaving.merge_all([s.space_saving for s in sketches])
        return cls.from_parts(space_saving, CountMinSketch.merge_all([s.count_min for s in sketches]))

    def _tighten(self, found: Sequence[ItemCount]) -> list[ItemCount]:
        tightened = []
        for f, c in zip(found, self.count_min.estimate_batch([f.item for f in found]).tolist(), strict=True):
            upper = min(f.upper_bound, c)
            tightened.append(ItemCount(f.item, upper, f.lower_bound, upper))
        return tightened

    def top_k(self, k: int) -> TopK:
        """The k monitored items with the largest tightened estimates (ties by item), flagged
        ``guaranteed`` where certainly in the true top-K (``topk.sketches.ranking``)."""
        items, lower, upper = self._monitored()
        return top_k_of(items, upper, lower, upper, k, self.space_saving.floor)

    def _monitored(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Every monitored item with its lower and tightened upper bound (int64), in one order."""
        items, counts, errors = self.space_saving.arrays()
        return items, counts - errors, np.minimum(counts, self.count_min.estimate_batch(items))

    def frequent_items(self, threshold: int) -> Frequent:
        """Every item whose count may reach ``threshold``: the monitored items whose upper bound
        does, highest estimate first (ties by item), ``guaranteed`` where the lower bound does too.
        No item whose true count reaches ``threshold`` is missing when ``threshold > floor``
        (``Frequent.complete``): an unmonitored item counts at most the floor, and the floor is at
        most ``N / capacity``, so any threshold above ``N / capacity`` is complete."""
        if threshold < 1:
            raise ValueError("threshold must be positive")
        items, lower, upper = self._monitored()
        up, lo, reach = upper.tolist(), lower.tolist(), upper >= threshold
        listed = sorted(np.flatnonzero(reach).tolist(), key=lambda i: (-up[i], items[i]))
        unlisted = max(self.space_saving.floor, int(upper[~reach].max()) if len(listed) < len(items) else 0)
        return Frequent(
            tuple(ItemCount(items[i], up[i], lo[i], up[i], lo[i] >= threshold) for i in listed), threshold, unlisted
        )

    def certainly_reaching(self, threshold: int) -> tuple[ItemCount, ...]:
        """The items whose count certainly reaches ``threshold`` (lower bound at least that), highest
        lower bound first (ties by item): ``frequent_items``' guaranteed ones, with no Count-Min work
        for the items that do not qualify. Every item whose true count reaches ``threshold`` plus
        ``maximum_error`` is among them."""
        if threshold < 1:
            raise ValueError("threshold must be positive")
        items, counts, errors = self.space_saving.arrays()
        chosen = sorted(items[i] for i in np.flatnonzero(counts - errors >= threshold).tolist())
        lower, upper = self.bounds_of(chosen)
        found = [ItemCount(x, u, lo, u, True) for x, lo, u in zip(chosen, lower.tolist(), upper.tolist(), strict=True)]
        return tuple(sorted(found, key=lambda c: -c.lower_bound))

    def bounds_of(self, items: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds (int64) on the counts of ``items``, monitored or not."""
        lower, upper = self.space_saving.bounds_of(items)
        return lower, np.minimum(upper, self.count_min.estimate_batch(items))

    def estimate(self, item: str) -> int:
        return self.count(item).estimate

    def lower_bound(self, item: str) -> int:
        return self.space_saving.lower_bound(item)

    def upper_bound(self, item: str) -> int:
        return self.count(item).upper_bound

    def count(self, item: str) -> ItemCount:
        """Bounds on the count of any item, monitored or not."""
        ss = self.space_saving
        return self._tighten([ItemCount(item, ss.estimate(item), ss.lower_bound(item), ss.upper_bound(item))])[0]

    def serialize(self) -> bytes:
        ss = self.space_saving.serialize()
        return _HEADER.pack(b"HH", FORMAT_VERSION, len(ss)) + ss + self.count_min.serialize()

    @classmethod
    def deserialize(cls, data: bytes) -> HeavyHittersSketch:
        space_saving, count_min = split(data)
        sketch = cls.__new__(cls)
        sketch.space_saving = SpaceSaving.deserialize(space_saving)
        sketch.count_min = CountMinSketch.deserialize(count_min)
        return sketch

    @classmethod
    def from_parts(cls, space_saving: SpaceSaving, count_min: CountMinSketch) -> HeavyHittersSketch:
        sketch = cls.__new__(cls)
        sketch.space_saving, sketch.count_min = space_saving, count_min
        return sketch


@dataclass(frozen=True)
class Frequent:
    """The items whose count may reach ``threshold`` (``guaranteed``: certainly does), and the
    most an item not listed can count (``unlisted_bound``: below ``threshold``, or the Space-Saving
    floor)."""

    items: tuple[ItemCount, ...]
    threshold: int
    unlisted_bound: int

    @property
    def complete(self) -> bool:
        """Whether every item whose true count reaches ``threshold`` is listed."""
        return self.threshold > self.unlisted_bound


def total_weight(data: bytes) -> int:
    """The total weight of a serialized heavy-hitters sketch, without decoding it."""
    return total_weight_of(data, _HEADER.size)


def split(data: bytes) -> tuple[bytes, bytes]:
    """The serialized Space-Saving and Count-Min parts of a serialized heavy-hitters sketch."""
    magic, version, ss_len = _HEADER.unpack_from(data)
    if magic != b"HH" or version != FORMAT_VERSION:
        raise ValueError(f"not a heavy-hitters sketch of format {FORMAT_VERSION}: {magic!r} v{version}")
    start = _HEADER.size
    return data[start : start + ss_len], data[start + ss_len :]
