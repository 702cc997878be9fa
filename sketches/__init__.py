"""Mergeable, serializable frequency sketches, usable inside and outside Flink.

One vocabulary: ``update``, ``update_batch``, ``merge``, ``serialize``/``deserialize`` (versioned),
``estimate``, ``lower_bound``, ``upper_bound``, ``maximum_error``, ``is_empty``; ranked answers
are ``ItemCount``s in a ``TopK``."""

from sketches.count_min import CountMinSketch
from sketches.heavy_hitters import HeavyHittersSketch
from sketches.ranking import ItemCount, TopK
from sketches.space_saving import SpaceSaving

__all__ = ["CountMinSketch", "HeavyHittersSketch", "ItemCount", "SpaceSaving", "TopK"]
