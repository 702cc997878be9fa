"""Stored summaries decoded once and merged as arrays (``topk.query.summaries``)."""

from __future__ import annotations

from topk.query.summaries import SummaryCache
from topk.sketches import HeavyHittersSketch, ItemCount


def test_counts_past_32_bits_merge():
    """A Count-Min table with a cell past 2**32 is stored as uint64, and merges as any other."""
    parts = [HeavyHittersSketch(8, 64, 2) for _ in range(2)]
    for sketch in parts:
        sketch.update("x", 2**33)
    parts[1].update("y", 5)
    cache = SummaryCache()
    merged = cache.merge([cache.decoded(n, sketch.serialize()) for n, sketch in enumerate(parts)])
    assert merged.count("x") == ItemCount("x", 2**34, 2**34, 2**34, False)
    assert merged.total_weight == 2**34 + 5
