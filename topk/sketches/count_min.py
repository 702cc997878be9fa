"""Count-Min Sketch (Cormode & Muthukrishnan, 2005) with deterministic mmh3 hashing.

Error bounds, for a sketch of ``width`` w and ``depth`` d that has seen total weight N
(non-negative weights only):

* ``estimate(x) >= f(x)`` always (it never under-estimates);
* ``estimate(x) <= f(x) + epsilon * N`` with probability at least ``1 - delta``,
  where ``epsilon = e / w`` and ``delta = exp(-d)``.

Row ``i`` hashes an item to ``(h1 + i * h2) mod w`` where ``(h1, h2)`` are the two
64-bit halves of ``mmh3.hash128(item, seed)`` (Kirsch-Mitzenmacher double hashing).
The seed is fixed, so a sketch restored in another process indexes the same cells.

Sketches of different shapes merge when one width divides the other: a cell ``j`` of the wider
table is cell ``j mod w`` of the narrower (``h mod w = (h mod W) mod w`` when ``w`` divides ``W``), and
row ``i`` hashes the same whatever the depth, so the wider is folded and the deeper cut to the
other's shape first (its bounds are then those of the smaller shape). A tenant whose Count-Min size
changes mid-hour has its hour merged this way.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence

import mmh3
import numpy as np

# The table dense or sparse (whichever is smaller) in the smallest unsigned type that holds its largest
# cell (tests/golden/summaries.json pins the bytes; the JVM writes and reads them alike).
FORMAT_VERSION = 3
_MAGIC = b"CM"
_HEADER = struct.Struct("<2sBIIIq")  # magic, version, depth, width, seed, total weight
_LAYOUT = struct.Struct("<BBI")  # v3: sparse (0/1), value type code, cells stored
_TYPES = ("<u1", "<u2", "<u4", "<u8")
DEFAULT_SEED = 0x70704B  # fixed: changing it makes stored sketches unmergeable


class CountMinSketch:
    """Frequency estimates for any item, never below the true count."""

    def __init__(self, width: int = 2048, depth: int = 5, seed: int = DEFAULT_SEED) -> None:
        if width < 1 or depth < 1:
            raise ValueError("width and depth must be positive")
        self.width = width
        self.depth = depth
        self.seed = seed
        self.total_weight = 0
        self._table = np.zeros((depth, width), dtype=np.int64)
        self._rows = np.arange(depth, dtype=np.uint64)

    @classmethod
    def for_error(cls, epsilon: float, delta: float, seed: int = DEFAULT_SEED) -> CountMinSketch:
        """The smallest sketch with relative error ``epsilon`` at failure probability ``delta``."""
        return cls(math.ceil(math.e / epsilon), math.ceil(math.log(1.0 / delta)), seed)

    @property
    def epsilon(self) -> float:
        return math.e / self.width

    @property
    def delta(self) -> float:
        return math.exp(-self.depth)

    def _columns(self, items: Iterable[str]) -> np.ndarray:
        """Cell index per (row, item): shape (depth, n)."""
        # the 128-bit digest read as two little-endian uint64 equals mmh3.hash64(s, seed, signed=False)
        digests = b"".join([mmh3.hash_bytes(s, self.seed) for s in items])
        if not digests:
            return np.empty((self.depth, 0), dtype=np.int64)
        pairs = np.frombuffer(digests, dtype="<u8").reshape(-1, 2)
        with np.errstate(over="ignore"):
            mixed = pairs[:, 0][None, :] + self._rows[:, None] * pairs[:, 1][None, :]
        return (mixed % np.uint64(self.width)).astype(np.int64)

    def update(self, item: str, weight: int = 1) -> None:
        self.update_batch([item], [weight])

    def update_batch(self, items: Sequence[str], weights: Sequence[int] | np.ndarray) -> None:
        """Add ``weights[i]`` to ``items[i]`` for all i (weights must be >= 0)."""
        w = np.asarray(weights, dtype=np.int64)
        if w.size and w.min() < 0:
            raise ValueError("Count-Min weights must be non-negative")
        cells = self._columns(items) + (np.arange(self.depth, dtype=np.int64) * self.width)[:, None]
        # one bincount over all rows; float64 counts are exact below 2**53
        added = np.bincount(cells.ravel(), weights=np.tile(w, self.depth), minlength=self.depth * self.width)
        self._table += added.astype(np.int64).reshape(self.depth, self.width)
        self.total_weight += int(w.sum())

    def estimate(self, item: str) -> int:
        return int(self.estimate_batch([item])[0])

    def estimate_batch(self, items: Sequence[str]) -> np.ndarray:
        cols = self._columns(items)
        return self._table[self._rows.astype(np.int64)[:, None], cols].min(axis=0)

    def lower_bound(self, item: str) -> int:
        """Count-Min alone knows no lower bound above 0."""
        return 0

    def upper_bound(self, item: str) -> int:
        """Never below the true count (same as ``estimate``)."""
        return self.estimate(item)

    @property
    def maximum_error(self) -> int:
        """``ceil(epsilon * N)``: an estimate exceeds the true count by more only with probability ``delta``."""
        return math.ceil(self.epsilon * self.total_weight)

    @property
    def is_empty(self) -> bool:
        return self.total_weight == 0

    def __repr__(self) -> str:
        return f"CountMinSketch(width={self.width}, depth={self.depth}, N={self.total_weight})"

    def merge(self, other: CountMinSketch) -> None:
        """Add ``other`` into this sketch (folded to the smaller shape first, see the module's doc)."""
        width, depth = _common_shape([self, other])
        if (width, depth) != (self.width, self.depth):
            self._table, self.width, self.depth = self.folded(width, depth)._table, width, depth
            self._rows = np.arange(depth, dtype=np.uint64)
        self._table += other.folded(width, depth)._table
        self.total_weight += other.total_weight

    def folded(self, width: int, depth: int) -> CountMinSketch:
        """This sketch with ``width`` cells (a divisor of its own) in its first ``depth`` rows; itself
        when that is its shape."""
        if (width, depth) == (self.width, self.depth):
            return self
        if self.width % width or depth > self.depth:
            raise ValueError(f"cannot fold a {self.depth}x{self.width} Count-Min table to {depth}x{width}")
        table = self._table[:depth].reshape(depth, self.width // width, width).sum(axis=1)
        return CountMinSketch.from_table(width, depth, self.seed, self.total_weight, table)

    def serialize(self) -> bytes:
        header = _HEADER.pack(_MAGIC, FORMAT_VERSION, self.depth, self.width, self.seed, self.total_weight)
        flat = self._table.ravel()
        code = _type_code(int(flat.max()) if flat.size else 0)
        nonzero = np.flatnonzero(flat)
        index = "<u2" if flat.size <= 1 << 16 else "<u4"
        if len(nonzero) * (np.dtype(index).itemsize + (1 << code)) < flat.size * (1 << code):
            cells = [nonzero.astype(index).tobytes(), flat[nonzero].astype(_TYPES[code]).tobytes()]
            return b"".join([header, _LAYOUT.pack(1, code, len(nonzero)), *cells])
        return b"".join([header, _LAYOUT.pack(0, code, flat.size), flat.astype(_TYPES[code]).tobytes()])

    @classmethod
    def deserialize(cls, data: bytes) -> CountMinSketch:
        return cls.from_table(*decode(data))

    @classmethod
    def from_table(cls, width: int, depth: int, seed: int, total_weight: int, table: np.ndarray) -> CountMinSketch:
        """A sketch with this (depth x width) table, of any unsigned or signed integer type."""
        sketch = cls(width, depth, seed)
        sketch.total_weight = total_weight
        sketch._table = table.astype(np.int64).reshape(depth, width)
        return sketch

    @property
    def table(self) -> np.ndarray:
        """The counters, depth x width (read-only use)."""
        return self._table

    @classmethod
    def merge_all(cls, sketches: Sequence[CountMinSketch]) -> CountMinSketch:
        """One sketch of the union of ``sketches`` (of one seed; shapes as ``merge`` takes them)."""
        width, depth = _common_shape(sketches)
        merged = cls(width, depth, sketches[0].seed)
        for s in sketches:
            merged.merge(s)
        return merged

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CountMinSketch)
            and (self.width, self.depth, self.seed, self.total_weight)
            == (other.width, other.depth, other.seed, other.total_weight)
            and bool(np.array_equal(self._table, other._table))
        )


def _type_code(largest: int) -> int:
    """Index into ``_TYPES`` of the smallest unsigned type that holds ``largest`` (>= 0)."""
    return 0 if largest < 1 << 8 else 1 if largest < 1 << 16 else 2 if largest < 1 << 32 else 3


def decode(data: bytes) -> tuple[int, int, int, int, np.ndarray]:
    """``(width, depth, seed, total weight, table)`` of a serialized sketch (format 3), the table in the
    smallest type it was stored in (merging code may add it to an int64 table as is)."""
    magic, version, depth, width, seed, total = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != FORMAT_VERSION:
        raise ValueError(f"not a Count-Min sketch of format {FORMAT_VERSION}: {magic!r} v{version}")
    cells = depth * width
    sparse, code, n = _LAYOUT.unpack_from(data, _HEADER.size)
    start = _HEADER.size + _LAYOUT.size
    if not sparse:
        return width, depth, seed, total, np.frombuffer(data, _TYPES[code], cells, start)
    index = np.dtype("<u2" if cells <= 1 << 16 else "<u4")
    table = np.zeros(cells, _TYPES[code])
    table[np.frombuffer(data, index, n, start)] = np.frombuffer(data, _TYPES[code], n, start + n * index.itemsize)
    return width, depth, seed, total, table


def _common_shape(sketches: Sequence[CountMinSketch]) -> tuple[int, int]:
    """The shape ``sketches`` merge into: the smallest width, if it divides every other, and depth."""
    if len({s.seed for s in sketches}) > 1:
        raise ValueError("cannot merge Count-Min sketches of different seeds")
    width = min(s.width for s in sketches)
    if any(s.width % width for s in sketches):
        raise ValueError(f"cannot merge Count-Min widths {sorted({s.width for s in sketches})}: none divides all")
    return width, min(s.depth for s in sketches)
