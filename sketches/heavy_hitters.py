"""The window summary: a Space-Saving summary plus a Count-Min Sketch over the same stream.

Both structures only ever over-estimate, so their minimum is still a guaranteed upper bound:

* ``lower_bound(x) = c(x) - e(x)``                      (Space-Saving, guaranteed)
* ``upper_bound(x) = min(SpaceSaving.upper(x), CMS(x))`` (both guaranteed >= f(x))

Space-Saving answers *which* items are frequent (top-k); the Count-Min Sketch tightens the
upper bound and answers the count of any item, monitored or not.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sketches.count_min import CountMinSketch
from sketches.space_saving import FrequentItem, SpaceSaving

FORMAT_VERSION = 1
_HEADER = struct.Struct("<2sBI")  # magic, version, length of the Space-Saving part


@dataclass(frozen=True)
class ItemCount:
    """Bounds on one item's count: ``lower_bound <= true count <= upper_bound``."""

    item: str
    estimate: int
    lower_bound: int
    upper_bound: int


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

    def update(self, item: str, weight: int = 1) -> None:
        self.update_batch([item], [weight])

    def update_batch(self, items: Sequence[str], weights: Sequence[int] | np.ndarray) -> None:
        self.space_saving.update_batch(items, weights)
        self.count_min.update_batch(items, weights)

    def merge(self, other: HeavyHittersSketch) -> None:
        self.space_saving.merge(other.space_saving)
        self.count_min.merge(other.count_min)

    def _tighten(self, found: Sequence[FrequentItem]) -> list[ItemCount]:
        cms = self.count_min.estimate_batch([f.item for f in found]).tolist()
        return [
            ItemCount(f.item, min(f.upper_bound, c), f.lower_bound, min(f.upper_bound, c))
            for f, c in zip(found, cms, strict=True)
        ]

    def top_k(self, k: int) -> list[ItemCount]:
        """The k items with the largest Space-Saving counters, with tightened bounds."""
        return self._tighten(self.space_saving.top_k(k))

    def count(self, item: str) -> ItemCount:
        """Bounds on the count of any item."""
        ss = self.space_saving
        found = FrequentItem(item, ss.estimate(item), ss.lower_bound(item), ss.upper_bound(item))
        return self._tighten([found])[0]

    def serialize(self) -> bytes:
        ss = self.space_saving.serialize()
        return _HEADER.pack(b"HH", FORMAT_VERSION, len(ss)) + ss + self.count_min.serialize()

    @classmethod
    def deserialize(cls, data: bytes) -> HeavyHittersSketch:
        magic, version, ss_len = _HEADER.unpack_from(data)
        if magic != b"HH" or version != FORMAT_VERSION:
            raise ValueError(f"not a heavy-hitters sketch of format {FORMAT_VERSION}: {magic!r} v{version}")
        sketch = cls.__new__(cls)
        start = _HEADER.size
        sketch.space_saving = SpaceSaving.deserialize(data[start : start + ss_len])
        sketch.count_min = CountMinSketch.deserialize(data[start + ss_len :])
        return sketch
