"""The top-K is in order of its reported counts, leaves nothing better out, and its
``guaranteed`` flags are never wrong: property tests, and streams that are not i.i.d. Zipf."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.stream import make_stream
from topk.sketches import HeavyHittersSketch, ItemCount, SpaceSaving, TopK
from topk.sketches.accuracy import precision_at_k, wrongly_guaranteed
from topk.sketches.ranking import top_k


def check_answer(top: TopK, sketch: HeavyHittersSketch, truth: Counter, k: int) -> None:
    """Every invariant of a top-K answer, against the exact counts."""
    items = top.items
    keys = [(-i.estimate, i.item) for i in items]
    assert keys == sorted(keys), "not in order of the reported counts (ties by item)"
    assert len(items) == min(k, len(sketch.space_saving))
    returned = {i.item for i in items}
    lowest = min((i.estimate for i in items), default=None)
    for other in sketch.space_saving.items():
        if other.item not in returned:  # nothing left out reports more than something returned
            assert sketch.count(other.item).estimate <= lowest, other.item
            assert sketch.count(other.item).upper_bound <= top.unlisted_bound
    for i in items:
        assert i.lower_bound <= truth[i.item] <= i.upper_bound, i
        assert i.estimate == i.upper_bound == sketch.count(i.item).upper_bound
    assert top.unlisted_bound >= sketch.space_saving.floor
    assert not wrongly_guaranteed(items, truth, k)


parts = st.lists(st.lists(st.tuples(st.integers(0, 80), st.integers(1, 30)), max_size=150), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(parts=parts, capacity=st.integers(1, 24), width=st.integers(1, 64), k=st.integers(1, 30), merge=st.booleans())
def test_top_k_invariants_hold_after_batches_and_merges(parts, capacity, width, k, merge):
    sketch, truth = HeavyHittersSketch(capacity, width, 3), Counter()
    for part in parts:
        batch = HeavyHittersSketch(capacity, width, 3) if merge else sketch
        batch.update_batch([f"x{i}" for i, _ in part], [w for _, w in part])
        if merge:
            sketch.merge(batch)
        for i, w in part:
            truth[f"x{i}"] += w
    check_answer(sketch.top_k(k), sketch, truth, k)


@settings(max_examples=100, deadline=None)
@given(stream=st.lists(st.integers(0, 40), max_size=400), capacity=st.integers(1, 16), k=st.integers(1, 20))
def test_space_saving_top_k_flags_are_never_wrong(stream, capacity, k):
    ss, truth = SpaceSaving(capacity), Counter(f"x{i}" for i in stream)
    for i in stream:
        ss.update(f"x{i}")
    top = ss.top_k(k)
    assert [(-i.estimate, i.item) for i in top.items] == sorted((-i.estimate, i.item) for i in top.items)
    assert not wrongly_guaranteed(top.items, truth, k)


def test_rule_on_a_hand_made_answer():
    candidates = [ItemCount("a", 100, 90, 100), ItemCount("b", 95, 60, 95), ItemCount("c", 80, 79, 80)]
    top = top_k(candidates, 2, unseen_bound=50)
    assert [i.item for i in top.items] == ["a", "b"]
    assert top.unlisted_bound == 80  # c's upper bound
    assert [i.guaranteed for i in top.items] == [True, False]  # b's 60 < 80: c may count more
    assert top.guaranteed == 1
    assert top_k(candidates, 3, unseen_bound=50).guaranteed == 3
    assert top_k(candidates, 3, unseen_bound=85).guaranteed == 1  # an unseen item may count 85


def test_ranking_by_the_tightened_count_fixes_the_reported_inversion():
    """Space-Saving's counter ranks ``loose`` first, but Count-Min knows ``tight`` counts more."""
    sketch = HeavyHittersSketch(capacity=2, cms_width=4096, cms_depth=5)
    sketch.update_batch(["tight", "x", "y"], [700, 600, 550])  # y left out: floor 550
    sketch.update_batch(["loose"], [300])  # admitted at the floor: counter 850, error 550; x evicted
    assert [i.item for i in sketch.space_saving.top_k(1).items] == ["loose"]  # the old ranking
    top = sketch.top_k(1)
    assert [(i.item, i.estimate, i.lower_bound, i.guaranteed) for i in top.items] == [("tight", 700, 700, True)]
    assert top.unlisted_bound == 600  # the floor after x's eviction; loose's tightened bound is 300
    assert [i.estimate for i in sketch.top_k(2).items] == [700, 300]


@pytest.mark.parametrize(
    ("shape", "universe", "skew"),
    [
        ("bursty", 50_000, 1.0),
        ("turnover", 50_000, 1.0),
        ("zipf", 50_000, 0.6),
        ("adversarial", 50_000, 0.9),
        ("text", 0, 0.0),
    ],
)
def test_streams_that_are_not_iid_zipf(shape, universe, skew):
    """300k events in 60 pre-aggregated windows, capacity 256 (exceeded many times over)."""
    stream = make_stream(300_000, universe, skew, windows=60, seed=3, shape=shape)
    sketch = HeavyHittersSketch(256, 2048, 5)
    for items, weights in stream.batches:
        sketch.update_batch(items, weights)
    for k in (10, 50):
        top = sketch.top_k(k)
        check_answer(top, sketch, stream.exact, k)
        assert top.guaranteed > 0 or shape == "zipf"  # at skew 0.6 bounds may be too loose to be sure


def test_merged_windows_answer_like_one_sketch_would_be_allowed_to():
    """An hour from 60 merged minute summaries keeps every invariant."""
    stream = make_stream(200_000, 20_000, 0.8, windows=60, seed=5, shape="bursty")
    hour = HeavyHittersSketch(128, 1024, 5)
    for items, weights in stream.batches:
        minute = HeavyHittersSketch(128, 1024, 5)
        minute.update_batch(items, weights)
        hour.merge(minute)
    check_answer(hour.top_k(20), hour, stream.exact, 20)
    assert precision_at_k([i.item for i in hour.top_k(20).items], stream.exact, 20) >= 0.8


def test_top_k_of_an_empty_sketch():
    top = HeavyHittersSketch(8, 16, 2).top_k(5)
    assert top.items == () and top.unlisted_bound == 0 and np.isfinite(top.unlisted_bound)
