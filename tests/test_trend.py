"""Trending (``topk.sketches.trend``) and threshold answers (``HeavyHittersSketch.frequent_items``)
against exact counts, on streams that are not i.i.d. Zipf: planted risers and fallers in a steady
stream, bursts, vocabulary turnover, prose, each period summarized and merged as the query side does."""

from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topk.generator.shapes import SHAPES, items
from topk.query.summaries import Summary, SummaryCache
from topk.sketches import HeavyHittersSketch
from topk.sketches.trend import changes, ratios

CAPACITY = 48  # small, so the summaries are not exact


def summary(stream: list[str]) -> bytes:
    sketch = HeavyHittersSketch(CAPACITY, 256, 4)
    sketch.update_batch(stream, np.ones(len(stream), np.int64))
    return sketch.serialize()


def merged(periods: list[list[str]]) -> HeavyHittersSketch:
    """The periods' summaries merged as the query side merges stored windows."""
    return SummaryCache().merged([Summary(i, 0, summary(p)) for i, p in enumerate(periods)])


def periods_of(shape: str, seed: int, n: int, count: int) -> list[list[str]]:
    stream = [str(x) for x in items(shape, np.random.default_rng(seed), n * count, 2_000, 1.05)]
    return [stream[i * n : (i + 1) * n] for i in range(count)]


def check_changes(periods: list[list[str]], k: int, falling: bool) -> list[str]:
    """Every bound the trend answer states, against the exact change; the listed items."""
    *before, now = periods
    base = Counter(x for p in before for x in p)
    cur = Counter(now)
    n = len(before)
    answer = changes(merged([now]), merged(before), n, k, falling=falling)
    sign = -1 if falling else 1

    def true(x: str) -> Fraction:
        return sign * (cur[x] - Fraction(base[x], n))

    listed = {c.item for c in answer.items}
    for c in answer.items:
        assert c.lower_bound <= true(c.item) <= c.upper_bound, c
        assert c.current[1] <= cur[c.item] <= c.current[2]
        assert c.baseline[1] <= Fraction(base[c.item], n) <= c.baseline[2]
        assert c.change > 0
        if c.guaranteed:  # fewer than k items truly moved more
            assert sum(true(x) > true(c.item) for x in base.keys() | cur.keys()) < k, c
    for x in base.keys() | cur.keys():
        if x not in listed:
            assert true(x) <= answer.unlisted_bound, x
    assert [c.change for c in answer.items] == sorted((c.change for c in answer.items), reverse=True)
    return [c.item for c in answer.items]


@settings(max_examples=25, deadline=None)
@given(
    shape=st.sampled_from(SHAPES),
    seed=st.integers(0, 10_000),
    baseline=st.integers(1, 6),
    k=st.integers(1, 20),
    falling=st.booleans(),
)
def test_change_bounds_hold_against_exact_counts(shape, seed, baseline, k, falling):
    check_changes(periods_of(shape, seed, 1_500, baseline + 1), k, falling)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_planted_riser_and_a_faller_are_found_and_guaranteed(shape):
    periods = periods_of(shape, 7, 4_000, 7)
    for p in periods[:6]:
        p.extend(["faller"] * 300)  # steady, then gone
    periods[6].extend(["riser"] * 400)  # absent, then 10 % of the hour
    base, cur = Counter(x for p in periods[:6] for x in p), Counter(periods[6])
    for falling, planted in ((False, "riser"), (True, "faller")):
        found = check_changes(periods, 5, falling)
        sign = -1 if falling else 1
        assert found[0] == max(base.keys() | cur.keys(), key=lambda x: (sign * (6 * cur[x] - base[x]), x))
        answer = changes(merged(periods[6:]), merged(periods[:6]), 6, 5, falling=falling)
        assert next(c for c in answer.items if c.item == planted).guaranteed


def check_ratios(periods: list[list[str]], k: int, min_count: int, sides: tuple | None = None) -> list[str]:
    """Every bound the relative-growth answer states, against the exact growth; the listed items.
    ``sides``: the current and baseline sketches, when not the periods' summaries merged."""
    *before, now = periods
    base = Counter(x for p in before for x in p)
    cur = Counter(now)
    n = len(before)
    answer = ratios(*(sides or (merged([now]), merged(before))), n, k, min_count)

    def true(x: str) -> Fraction:
        return cur[x] / max(Fraction(base[x], n), 1)

    competing = {x for x in base.keys() | cur.keys() if cur[x] >= min_count}
    listed = {c.item for c in answer.items}
    for c in answer.items:
        assert c.lower_bound <= true(c.item) <= c.upper_bound, c
        assert c.current[1] <= cur[c.item] <= c.current[2] and c.current[2] >= min_count
        assert c.change >= 1  # grew (shown to three decimals)
        if c.guaranteed:  # it competes, and fewer than k competing items truly grew more
            assert c.item in competing and sum(true(x) > true(c.item) for x in competing) < k, c
    assert all(true(x) <= answer.unlisted_bound for x in competing - listed)
    assert [c.change for c in answer.items] == sorted((c.change for c in answer.items), reverse=True)
    return [c.item for c in answer.items]


@settings(max_examples=25, deadline=None)
@given(
    shape=st.sampled_from(SHAPES),
    seed=st.integers(0, 10_000),
    baseline=st.integers(1, 6),
    k=st.integers(1, CAPACITY),  # past the items counted exactly, so bounds are loose
    min_count=st.integers(1, 200),
)
def test_growth_bounds_hold_against_exact_counts(shape, seed, baseline, k, min_count):
    check_ratios(periods_of(shape, seed, 1_500, baseline + 1), k, min_count)


@pytest.mark.parametrize("shape", SHAPES)
def test_growth_finds_a_planted_riser_and_min_count_holds_out_a_rare_newcomer(shape):
    periods = periods_of(shape, 11, 4_000, 7)
    for p in periods[:6]:
        p.extend(["steady"] * 50)
    periods[6].extend(["steady"] * 400 + ["newcomer"] * 3)  # 8x its mean; 3 where there were none
    found = check_ratios(periods, 5, 100)
    assert "steady" in found and "newcomer" not in found
    answer = ratios(merged(periods[6:]), merged(periods[:6]), 6, 5, 100)
    steady = next(c for c in answer.items if c.item == "steady")
    assert steady.guaranteed and steady.lower_bound <= 8 <= steady.upper_bound


@pytest.mark.parametrize("min_count", [5, 25])
def test_growth_bounds_an_evicted_item_and_guarantees_only_items_certainly_counted_min_count_times(min_count):
    """Adversarial order, Space-Saving alone (a one-cell Count-Min tightens nothing): ``ghost`` (8
    events, none before: grew 8x) is evicted, then ``late`` enters over a floor of 8 (20 events,
    counted 28; 20 a period before: grew 1x). ``ghost`` is bounded only through the floor; at
    min_count 25 ``late`` may compete and is listed, but its true 20 does not reach 25: not guaranteed."""
    fillers = [x for i in range(CAPACITY - 1) for x in [f"f{i:02}"] * 9]
    batches = (["ghost"] * 8 + fillers, ["evictor"] * 20, ["late"] * 20)
    steady = [*fillers, *batches[1], *batches[2]]  # a period of the baseline: all but ghost
    current, baseline = HeavyHittersSketch(CAPACITY, 1, 1), HeavyHittersSketch(CAPACITY, 1, 1)
    for sketch, batch in [*((current, b) for b in batches), (baseline, steady * 2)]:
        sketch.update_batch(batch, np.ones(len(batch), np.int64))
    found = check_ratios(
        [steady, steady, [*batches[0], *batches[1], *batches[2]]], CAPACITY, min_count, (current, baseline)
    )
    assert found == ["late"]


def test_nothing_listed_when_nothing_moved():
    same = [["a"] * 10 + ["b"] * 5] * 3
    answer = changes(merged(same[2:]), merged(same[:2]), 2, 5)
    assert answer.items == () and answer.unlisted_bound == 0


@settings(max_examples=25, deadline=None)
@given(shape=st.sampled_from(SHAPES), seed=st.integers(0, 10_000), parts=st.integers(1, 5), phi=st.floats(0.001, 0.3))
def test_frequent_items_miss_nothing_above_the_threshold_when_complete(shape, seed, parts, phi):
    periods = periods_of(shape, seed, 2_000, parts)
    exact = Counter(x for p in periods for x in p)
    sketch = merged(periods)
    threshold = max(1, int(np.ceil(phi * sketch.total_weight)))
    answer = sketch.frequent_items(threshold)
    listed = {i.item for i in answer.items}
    for i in answer.items:
        assert i.lower_bound <= exact[i.item] <= i.upper_bound and i.upper_bound >= threshold
        assert not i.guaranteed or exact[i.item] >= threshold
    if phi > 1 / CAPACITY:
        assert answer.complete
    if answer.complete:
        assert {x for x, c in exact.items() if c >= threshold} <= listed
    assert all(c <= answer.unlisted_bound for x, c in exact.items() if x not in listed)
