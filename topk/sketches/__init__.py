"""Mergeable, serializable frequency sketches, usable inside and outside Flink.

One vocabulary: ``update``, ``update_batch``, ``merge``, ``serialize``/``deserialize`` (versioned),
``estimate``, ``lower_bound``, ``upper_bound``, ``maximum_error``, ``is_empty``; ranked answers
are ``ItemCount``s in a ``TopK``."""

from topk.sketches.count_min import CountMinSketch
from topk.sketches.heavy_hitters import HeavyHittersSketch
from topk.sketches.ranking import ItemCount, TopK
from topk.sketches.space_saving import SpaceSaving

__all__ = ["CountMinSketch", "HeavyHittersSketch", "ItemCount", "SpaceSaving", "TopK"]
