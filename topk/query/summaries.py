"""Stored window summaries, decoded once and merged as arrays (the query side's hot path).

A range answer merges up to a few hundred stored summaries of up to ``capacity`` items each.
Building every item as a string and grouping them in Python costs more than everything else
together (measured: ~70 ms for 190 full summaries on the development machine, against ~15 ms to
group integer ids). So each summary is decoded once into ``topk.sketches.space_saving.Columns``, its
items numbered in one table of names, its Count-Min table kept in the small type it was stored
in; merging is then array work (``merge_columns``, table sums).

Decoded summaries are kept in a bounded LRU cache, one per stored window, with the version it was
decoded from (Cassandra's write time of the summary, or its bytes' length and hash:
``content_version``): a window rewritten (late events, a replay) comes with another version, and is
decoded again, never answered stale. A caller that can learn a version without the bytes
(Cassandra's ``WRITETIME``) asks what the cache ``held`` first and reads only the summaries it lacks.

One cache serves every request and tenant, from the API's threads. Decoding (numbering names in the
shared table, filling the cache) holds a lock; merging does not. The table of names only grows, so
the ids a merge holds stay valid while other requests add names. Past ``max_names`` the cache
starts over with a new table, between requests' decodes: a merge in progress keeps the table its
parts were numbered in, and a part taken from ``held`` before the new table is numbered again in it.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from topk.sketches import CountMinSketch, HeavyHittersSketch
from topk.sketches import count_min as cms_format
from topk.sketches import heavy_hitters as hh_format
from topk.sketches import space_saving as ss_format

MAX_BYTES = 256 << 20
MAX_NAMES = 2_000_000


@dataclass(frozen=True)
class Summary:
    """A stored summary to merge: the window it is (any key naming it), its version (any value a
    rewrite of the window changes: ``content_version`` will do), and its bytes (a serialized
    ``HeavyHittersSketch``)."""

    window: Hashable
    version: Hashable
    blob: bytes


@dataclass(frozen=True)
class Decoded:
    """One stored summary, ready to merge."""

    window: Hashable
    version: Hashable

    columns: ss_format.Columns
    width: int
    depth: int
    seed: int
    total_weight: int  # of the Count-Min part (equals the Space-Saving part's)
    table: np.ndarray  # flat, in its stored type
    names: list[str] = field(repr=False, compare=False)  # the table of names ``columns.ids`` number

    @property
    def nbytes(self) -> int:
        c = self.columns
        return c.ids.nbytes + c.counts.nbytes + c.errors.nbytes + self.table.nbytes + 200


class SummaryCache:
    def __init__(self, max_bytes: int = MAX_BYTES, max_names: int = MAX_NAMES) -> None:
        self.max_bytes, self.max_names = max_bytes, max_names
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, Decoded] = OrderedDict()  # by window
        self._bytes = 0
        self._ids: dict[str, int] = {}
        self._names: list[str] = []
        self.hits = self.misses = 0

    def held(self, windows: Iterable[Hashable]) -> dict[Hashable, Decoded]:
        """The decoded summaries the cache holds of ``windows``, by window, each with its ``version``
        (to pass to ``merged`` as they are, if still current)."""
        found = {}
        with self._lock:
            for window in windows:
                entry = self._entries.get(window)
                if entry is not None:
                    self._entries.move_to_end(window)
                    found[window] = entry
        return found

    def merged(self, parts: Sequence[Summary | Decoded]) -> HeavyHittersSketch:
        """One sketch of the union of ``parts``: stored summaries, decoded and kept unless the cache
        holds them at their version already, and summaries it ``held``. No parts: an empty sketch."""
        if not parts:
            return HeavyHittersSketch(1, 1, 1)
        with self._lock:
            if len(self._names) > self.max_names:
                self._entries, self._bytes = OrderedDict(), 0
                self._ids, self._names = {}, []  # new objects: merges in progress keep the old ones
            decoded = [self._decoded(p) if isinstance(p, Summary) else self._renumbered(p) for p in parts]
            names = self._names
        return merge(decoded, names)

    def _decoded(self, s: Summary) -> Decoded:
        entry = self._entries.get(s.window)
        if entry is not None and entry.version == s.version:
            self._entries.move_to_end(s.window)
            self.hits += 1
            return entry
        self.misses += 1
        if entry is not None:  # another version (a rewrite): replaced
            self._bytes -= self._entries.pop(s.window).nbytes
        entry = self._decode(s)
        self._entries[s.window] = entry
        self._bytes += entry.nbytes
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            self._bytes -= self._entries.popitem(last=False)[1].nbytes
        return entry

    def _renumbered(self, d: Decoded) -> Decoded:
        """``d`` with its items numbered in the current table of names (taken from ``held`` before
        the table started over, it numbers them in the old one)."""
        self.hits += 1
        if d.names is self._names:
            return d
        c = d.columns
        numbers = self._numbers([d.names[i] for i in c.ids.tolist()])
        return replace(d, columns=replace(c, ids=numbers), names=self._names)

    def _numbers(self, items: Sequence[str]) -> np.ndarray:
        """``items``' ids in the table of names, adding those new to it."""
        ids, names = self._ids, self._names
        new = set(items).difference(ids)  # (C loops: set.difference looks each item up in the dict)
        ids.update(zip(new, itertools.count(len(names))))
        names.extend(new)
        return np.fromiter(map(ids.__getitem__, items), np.int64, len(items))

    def _decode(self, s: Summary) -> Decoded:
        space_saving, count_min = hh_format.split(s.blob)
        d = ss_format.decode(space_saving)
        numbers = self._numbers(d.items)
        columns = ss_format.Columns(numbers, d.counts, d.errors, d.floor, d.total_weight, d.capacity)
        return Decoded(s.window, s.version, columns, *cms_format.decode(count_min), self._names)


def content_version(blob: bytes) -> tuple[str, int, int]:
    """A version of a stored summary, from its bytes: their length and hash."""
    return "bytes", len(blob), hash(blob)


def merge(parts: Sequence[Decoded], names: Sequence[str]) -> HeavyHittersSketch:
    """One sketch of the union of ``parts`` (their items numbered in ``names``). Count-Min tables of
    another shape (a tenant's size changed within the range) are folded to the narrowest, as
    ``CountMinSketch.merge`` folds them."""
    width, depth, seed = min(p.width for p in parts), min(p.depth for p in parts), parts[0].seed
    if any(p.seed != seed or p.width % width for p in parts):
        raise ValueError("cannot merge Count-Min sketches of different seeds, or widths the narrowest does not divide")
    table = np.zeros(depth * width, np.int64)
    for p in parts:
        cells = p.table
        if (p.width, p.depth) != (width, depth):
            cells = cells[: depth * p.width].reshape(depth, p.width // width, width).sum(axis=1, dtype=np.int64)
        np.add(table, cells.ravel(), out=table, casting="unsafe")  # a uint64 table (cells past 2**32) too
    total = sum(p.total_weight for p in parts)
    count_min = CountMinSketch.from_table(width, depth, seed, total, table)
    space_saving = ss_format.merge_columns([p.columns for p in parts], names)
    return HeavyHittersSketch.from_parts(space_saving, count_min)
