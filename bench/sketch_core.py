"""Sketch core: weighted updates per second and accuracy against exact counts, for our
Space-Saving + Count-Min, Apache DataSketches' frequent items sketch at equal memory, and a
plain Counter (exact, unbounded memory), all on the same stream in the same run."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import datasketches as ds

from bench.stream import BenchStream
from topk.sketches import HeavyHittersSketch, ItemCount
from topk.sketches.accuracy import precision_at_k, recall_at_k, wrongly_guaranteed


@dataclass(frozen=True)
class CoreResult:
    name: str
    updates_per_s: float  # weighted (item, weight) updates per second, one core
    bytes: int  # serialized size
    top: list[ItemCount]  # every item reported, best first
    top_100: list[ItemCount]  # the answer to k=100, with its guaranteed flags (ours)


def _timed(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median seconds over ``repeats`` runs, and the last run's result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2], result


def ours(stream: BenchStream, capacity: int, repeats: int, cms_width: int = 2048) -> CoreResult:
    def run() -> HeavyHittersSketch:
        sketch = HeavyHittersSketch(capacity, cms_width)
        for items, weights in stream.batches:
            sketch.update_batch(items, weights)
        return sketch

    seconds, sketch = _timed(run, repeats)
    name = "ours: Space-Saving + Count-Min" + (f" (width {cms_width})" if cms_width != 2048 else "")
    top, top_100 = sketch.top_k(capacity).items, sketch.top_k(100).items
    return CoreResult(name, stream.weighted_updates / seconds, len(sketch.serialize()), list(top), list(top_100))


def _datasketch(stream: BenchStream, lg_max_k: int) -> ds.frequent_strings_sketch:
    sketch = ds.frequent_strings_sketch(lg_max_k)
    for items, weights in stream.batches:
        for item, w in zip(items, weights.tolist(), strict=True):
            sketch.update(item, w)
    return sketch


def datasketches_lg_k(target_bytes: int, stream: BenchStream) -> int:
    """The DataSketches map size (log2) whose serialized sketch is closest to ``target_bytes``."""
    sizes = {}
    for lg in range(6, 20):
        sizes[lg] = _datasketch(stream, lg).get_serialized_size_bytes()
        if sizes[lg] > target_bytes:
            break
    return min(sizes, key=lambda lg: abs(sizes[lg] - target_bytes))


def datasketches(stream: BenchStream, lg_max_k: int, repeats: int) -> CoreResult:
    seconds, sketch = _timed(lambda: _datasketch(stream, lg_max_k), repeats)
    found = sketch.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
    top = [ItemCount(item, est, lo, hi) for item, est, lo, hi in found]
    name = f"DataSketches frequent items (lg_max_k={lg_max_k})"
    return CoreResult(name, stream.weighted_updates / seconds, sketch.get_serialized_size_bytes(), top, top[:100])


def counter(stream: BenchStream, repeats: int) -> CoreResult:
    def run() -> Counter:
        exact: Counter = Counter()
        for items, weights in stream.batches:
            for item, w in zip(items, weights.tolist(), strict=True):
                exact[item] += w
        return exact

    seconds, exact = _timed(run, repeats)
    top = [ItemCount(x, c, c, c, True) for x, c in exact.most_common()]
    size = sum(len(x) + 8 for x in exact)  # a lower bound on its memory: keys and counts
    return CoreResult("plain Counter (exact)", stream.weighted_updates / seconds, size, top, top[:100])


@dataclass(frozen=True)
class Accuracy:
    precision: dict[int, float]  # K -> |reported top-K ∩ true top-K| / K
    recall: dict[int, float]  # K -> share of true top-K found anywhere in the summary
    max_error: int  # largest |estimate - true| over the reported top-100
    mean_error: float
    bound_violations: int  # items whose true count lies outside their stated bounds
    guaranteed: int  # of the answer to k=100, items flagged certainly in the true top-100
    wrongly_guaranteed: int  # ... that are not (must be 0)


def accuracy(result: CoreResult, exact: Counter, ks: tuple[int, ...] = (10, 100)) -> Accuracy:
    reported = [i.item for i in result.top]
    precision = {k: precision_at_k(reported, exact, k) for k in ks}
    recall = {k: recall_at_k(reported, exact, k) for k in ks}
    errors = [abs(i.estimate - exact[i.item]) for i in result.top[:100]]
    violations = sum(1 for i in result.top if not i.lower_bound <= exact[i.item] <= i.upper_bound)
    guaranteed, wrong = sum(i.guaranteed for i in result.top_100), len(wrongly_guaranteed(result.top_100, exact, 100))
    mean = sum(errors) / max(1, len(errors))
    return Accuracy(precision, recall, max(errors, default=0), mean, violations, guaranteed, wrong)


def stated_bound(total: int, capacity: int) -> int:
    """Space-Saving's guarantee for our sketch: no estimate is off by more than N / capacity."""
    return math.floor(total / capacity)
