"""Sketch error bounds checked against exact counts."""

import struct
from collections import Counter
from pathlib import Path

import mmh3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topk import sketches
from topk.generator.shapes import zipf_ranks
from topk.sketches import CountMinSketch, HeavyHittersSketch, SpaceSaving


def zipf_stream(n: int, universe: int, skew: float, seed: int) -> list[str]:
    return [f"i{r}" for r in zipf_ranks(np.random.default_rng(seed), n, universe, skew)]


def assert_space_saving_bounds(ss: SpaceSaving, truth: Counter) -> None:
    n = sum(truth.values())
    assert ss.total_weight == n
    assert ss.maximum_error <= n / ss.capacity
    monitored = {f.item: f for f in ss.items()}
    assert len(monitored) <= ss.capacity
    for item, f in monitored.items():
        assert f.lower_bound <= truth[item] <= f.upper_bound, item
        assert f.upper_bound - f.lower_bound <= ss.maximum_error
    for item, count in truth.items():
        assert count <= ss.upper_bound(item)
        if count > n / ss.capacity:
            assert item in monitored, f"{item} has {count} > N/m = {n / ss.capacity} but is not monitored"


@pytest.mark.parametrize("skew", [0.8, 1.1, 1.5])
def test_space_saving_single_updates_keep_guarantees(skew):
    stream = zipf_stream(30_000, 5_000, skew, seed=1)
    ss = SpaceSaving(100)
    for item in stream:
        ss.update(item)
    assert_space_saving_bounds(ss, Counter(stream))


def test_space_saving_batches_keep_guarantees_and_find_the_top():
    stream = zipf_stream(50_000, 20_000, 1.1, seed=2)
    ss = SpaceSaving(256)
    for i in range(0, len(stream), 3_000):
        chunk = stream[i : i + 3_000]
        ss.update_batch(chunk, np.ones(len(chunk), dtype=np.int64))
    truth = Counter(stream)
    assert_space_saving_bounds(ss, truth)
    assert [f.item for f in ss.top_k(5).items] == [x for x, _ in truth.most_common(5)]


def test_space_saving_is_exact_below_capacity():
    stream = zipf_stream(5_000, 50, 1.0, seed=3)
    ss = SpaceSaving(50)
    ss.update_batch(stream, [1] * len(stream))
    truth = Counter(stream)
    assert {f.item: f.estimate for f in ss.items()} == dict(truth)
    assert ss.maximum_error == 0


streams = st.lists(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 20)), max_size=120), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(parts=streams, capacity=st.integers(1, 40), batch=st.booleans())
def test_space_saving_bounds_hold_after_arbitrary_merges(parts, capacity, batch):
    merged, truth = SpaceSaving(capacity), Counter()
    for part in parts:
        ss = SpaceSaving(capacity)
        if batch:
            ss.update_batch([f"x{i}" for i, _ in part], [w for _, w in part])
        else:
            for i, w in part:
                ss.update(f"x{i}", w)
        merged.merge(ss)
        for i, w in part:
            truth[f"x{i}"] += w
    assert_space_saving_bounds(merged, truth)


def test_space_saving_is_deterministic_and_round_trips():
    stream = zipf_stream(10_000, 2_000, 1.1, seed=4)
    a, b = SpaceSaving(64), SpaceSaving(64)
    for item in stream:
        a.update(item)
        b.update(item)
    assert a.serialize() == b.serialize()
    restored = SpaceSaving.deserialize(a.serialize())
    assert restored == a and restored.top_k(10) == a.top_k(10)
    restored.update("i1", 5)
    a.update("i1", 5)
    assert restored == a


def test_serialized_formats_are_versioned():
    blob = bytearray(SpaceSaving(4).serialize())
    blob[2] = 99
    with pytest.raises(ValueError, match="format"):
        SpaceSaving.deserialize(bytes(blob))
    blob = bytearray(CountMinSketch(8, 2).serialize())
    blob[2] = 99
    with pytest.raises(ValueError, match="format"):
        CountMinSketch.deserialize(bytes(blob))


def test_count_min_never_underestimates_and_stays_within_epsilon_n():
    stream = zipf_stream(100_000, 50_000, 0.9, seed=5)
    cms = CountMinSketch(width=1024, depth=5)
    cms.update_batch(stream, np.ones(len(stream), dtype=np.int64))
    truth = Counter(stream)
    items = list(truth)
    est = cms.estimate_batch(items)
    exact = np.array([truth[x] for x in items])
    assert (est >= exact).all()
    over = (est - exact) > cms.epsilon * cms.total_weight
    # each item exceeds the bound with probability <= delta (~0.7%); allow 2x for sampling noise
    assert over.mean() <= 2 * cms.delta, over.mean()


def test_count_min_merge_equals_sketch_of_union_and_round_trips():
    a_items, b_items = zipf_stream(5_000, 500, 1.1, seed=6), zipf_stream(5_000, 500, 1.1, seed=7)
    a, b, both = CountMinSketch(256, 4), CountMinSketch(256, 4), CountMinSketch(256, 4)
    a.update_batch(a_items, [1] * len(a_items))
    b.update_batch(b_items, [2] * len(b_items))
    both.update_batch(a_items + b_items, [1] * len(a_items) + [2] * len(b_items))
    a.merge(b)
    assert a == both
    assert CountMinSketch.deserialize(a.serialize()) == a
    with pytest.raises(ValueError):  # neither width divides the other
        a.merge(CountMinSketch(100, 4))


def test_count_min_of_another_shape_merges_as_the_smaller_shape_cell_for_cell():
    """A tenant's Count-Min size may change mid-hour: the wider table folds (cell j -> j mod w) and the
    deeper is cut, which gives exactly the table of the smaller shape over the union."""
    words = (Path(__file__).read_text() + Path(sketches.__file__).read_text()).split()  # real text, not Zipf
    wide, narrow, union = CountMinSketch(1024, 5), CountMinSketch(128, 3), CountMinSketch(128, 3)
    wide.update_batch(words[::2], [1] * len(words[::2]))
    narrow.update_batch(words[1::2], [3] * len(words[1::2]))
    union.update_batch(words[::2] + words[1::2], [1] * len(words[::2]) + [3] * len(words[1::2]))
    assert CountMinSketch.merge_all([wide, narrow]) == union
    assert (CountMinSketch.merge_all([wide, narrow]).table == union.table).all()
    wide.merge(narrow)
    assert (wide.width, wide.depth) == (128, 3) and (wide.table == union.table).all()
    assert all(wide.estimate(w) >= words.count(w) for w in set(words[:200]))


def test_count_min_is_deterministic_across_instances():
    a, b = CountMinSketch(64, 3), CountMinSketch(64, 3)
    a.update("hello", 3)
    b.update("hello", 3)
    assert a == b and a.estimate("hello") == 3


def test_heavy_hitters_bounds_use_the_tighter_of_both_sketches():
    stream = zipf_stream(40_000, 10_000, 1.0, seed=8)
    hh = HeavyHittersSketch(capacity=64, cms_width=4096, cms_depth=5)
    for i in range(0, len(stream), 4_000):
        hh.update_batch(stream[i : i + 4_000], [1] * 4_000)
    truth = Counter(stream)
    for found in hh.top_k(20).items:
        assert found.lower_bound <= truth[found.item] <= found.upper_bound
        assert found.upper_bound <= hh.space_saving.upper_bound(found.item)
    for item in ("i1", "i500", "i9999", "never-seen"):
        c = hh.count(item)
        assert c.lower_bound <= truth[item] <= c.upper_bound
    restored = HeavyHittersSketch.deserialize(hh.serialize())
    assert restored.top_k(20) == hh.top_k(20) and restored.count("i500") == hh.count("i500")


def test_count_min_hashing_is_mmh3_hash64_with_the_fixed_seed():
    """The cell of every row comes from mmh3.hash64(item, seed): stored sketches stay readable."""
    cms = CountMinSketch(width=1009, depth=3)
    items = ["a", "é漢字", "/page/1", ""]
    pairs = [mmh3.hash64(x, cms.seed, signed=False) for x in items]
    expected = [[(h1 + row * h2) % 2**64 % 1009 for h1, h2 in pairs] for row in range(3)]
    assert cms._columns(items).tolist() == expected


def test_formats_no_release_wrote_are_refused_naming_the_one_read():
    cms = CountMinSketch(width=64, depth=3)
    cms.update_batch(["a", "b", "a"], [1, 2, 3])
    old = struct.pack("<2sBIIIq", b"CM", 2, 3, 64, cms.seed, cms.total_weight) + cms._table.astype("<i8").tobytes()
    with pytest.raises(ValueError, match="not a Count-Min sketch of format 3"):
        CountMinSketch.deserialize(old)
    ss = SpaceSaving(3)
    ss.update_batch(["a"], [1])
    with pytest.raises(ValueError, match="not a Space-Saving summary of format 2"):
        SpaceSaving.deserialize(b"SS\x01" + ss.serialize()[3:])


@settings(max_examples=150, deadline=None)
@given(parts=streams, capacity=st.integers(1, 40))
def test_space_saving_bounds_hold_after_an_n_way_merge_in_any_order(parts, capacity):
    summaries, truth = [], Counter()
    for part in parts:
        ss = SpaceSaving(capacity)
        ss.update_batch([f"x{i}" for i, _ in part], [w for _, w in part])
        summaries.append(ss)
        for i, w in part:
            truth[f"x{i}"] += w
    merged = SpaceSaving.merge_all(summaries)
    assert_space_saving_bounds(merged, truth)
    assert SpaceSaving.merge_all(summaries[::-1]).serialize() == merged.serialize()  # order does not matter


def test_n_way_merge_equals_pairwise_merges_below_capacity():
    parts = [SpaceSaving(100) for _ in range(5)]
    for n, ss in enumerate(parts):
        ss.update_batch([f"x{i}" for i in range(n, n + 10)], list(range(1, 11)))
    pairwise = SpaceSaving(100)
    for ss in parts:
        pairwise.merge(ss)
    assert SpaceSaving.merge_all(parts) == pairwise


def test_heavy_hitters_n_way_merge_keeps_every_answer_within_bounds():
    stream = zipf_stream(60_000, 20_000, 0.9, seed=12)
    minutes = []
    for i in range(0, len(stream), 2_000):
        hh = HeavyHittersSketch(64, 512, 4)
        hh.update_batch(stream[i : i + 2_000], [1] * 2_000)
        minutes.append(hh)
    merged, truth = HeavyHittersSketch.merge_all(minutes), Counter(stream)
    assert merged.total_weight == len(stream)
    for found in merged.top_k(20).items:
        assert found.lower_bound <= truth[found.item] <= found.upper_bound


def test_space_saving_format_round_trips_any_text():
    ss = SpaceSaving(8)
    ss.update_batch(["é漢字", "", "\ud800 lone surrogate", "a" * 70_000, "plain"], [5, 4, 3, 2, 300])
    restored = SpaceSaving.deserialize(ss.serialize())
    assert restored == ss and sorted(restored.items(), key=str) == sorted(ss.items(), key=str)
    ss.update("nul \x00 inside")  # items are then stored with their lengths, not separated by U+0000
    assert SpaceSaving.deserialize(ss.serialize()) == ss


def test_count_min_stores_small_tables_sparse():
    cms = CountMinSketch(width=2048, depth=5)
    cms.update_batch(["a", "b"], [3, 70_000])
    blob = cms.serialize()
    assert len(blob) < 200 and CountMinSketch.deserialize(blob) == cms  # 10 cells of 10,240
