"""Mergeable, serializable frequency sketches, usable inside and outside Flink."""

from sketches.count_min import CountMinSketch
from sketches.heavy_hitters import HeavyHittersSketch, ItemCount
from sketches.space_saving import FrequentItem, SpaceSaving

__all__ = ["CountMinSketch", "FrequentItem", "HeavyHittersSketch", "ItemCount", "SpaceSaving"]
