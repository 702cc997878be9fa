"""The benchmark stream: items of a shape (``topk.generator.shapes``), cut into per-window
pre-aggregated batches the way the job's JVM stage hands them to the sketch operator."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from topk.generator import shapes
from topk.sketches.accuracy import ranked


@dataclass(frozen=True)
class BenchStream:
    items: list[str]  # the stream, one item per event
    batches: list[tuple[list[str], np.ndarray]]  # (items, weights) per window, heaviest first
    exact: Counter

    @property
    def weighted_updates(self) -> int:
        return sum(len(items) for items, _ in self.batches)


def make_stream(
    events: int, universe: int, skew: float, windows: int, seed: int = 1, shape: str = "zipf"
) -> BenchStream:
    items = [f"item-{r}" for r in shapes.items(shape, np.random.default_rng(seed), events, universe, skew)]
    batches = []
    for chunk in np.array_split(np.arange(events), windows):
        counts = Counter(items[chunk[0] : chunk[-1] + 1]) if len(chunk) else Counter()
        order = ranked(counts)
        batches.append(([x for x, _ in order], np.array([c for _, c in order], dtype=np.int64)))
    return BenchStream(items, batches, Counter(items))
