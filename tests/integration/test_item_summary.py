"""The JVM's finest-window summary (ItemSummary.java) against the Python sketches it feeds, on Flink
(batch mode, parallelism 2, so the planner's local/global split calls the aggregate's merge too)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

from jobs.jars import job_jar_urls
from topk.generator.shapes import adversarial, turnover
from topk.sketches import CountMinSketch, HeavyHittersSketch
from topk.sketches.accuracy import ranked
from topk.sketches.heavy_hitters import split

pytestmark = pytest.mark.integration
CAPACITY, WIDTH, DEPTH = 16, 64, 3
ODD = ["naïve", "🙂 emoji", "nul\x00inside", "", "日本語", "a" * 300]


def streams() -> dict[str, list[tuple[str, int]]]:
    """Groups of (item, weight): some exact (few distinct items), some far beyond 2 x capacity."""
    rng = np.random.default_rng(11)
    shifting = [f"t{r}" for r in turnover(rng, 4000, 50_000, 1.1, phases=8)]
    return {
        "exact": [(x, 1 + i % 3) for i, x in enumerate(ODD * 5 + [f"e{i % 20}" for i in range(200)])],
        "between": [(f"b{i % (CAPACITY + 9)}", 1) for i in range(500)],  # capacity < distinct <= 2 x capacity
        "turnover": [(x, 1) for x in shifting],
        "adversarial": [(f"a{r}", 1) for r in adversarial(rng, 3000, 5000, 1.1)],
        "weighted": [(f"w{int(r)}", int(1 + r % 7)) for r in rng.zipf(1.05, 3000) % 2000],
        "odd": [(x, 5) for x in ODD] + [(f"filler{i % 20}", 1) for i in range(100)],
    }


@pytest.fixture(scope="module")
def t_env() -> TableEnvironment:
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set("pipeline.jars", ";".join(job_jar_urls()))
    t_env.get_config().set("parallelism.default", "2")
    t_env.create_java_temporary_system_function("item_summary", "topk.udfs.ItemSummary")
    t_env.create_java_temporary_system_function("item_summary_of", "topk.udfs.ItemSummaryOf")
    return t_env


@pytest.fixture(scope="module")
def summaries(t_env: TableEnvironment) -> dict[str, tuple[bytes, list[tuple[str, int]]]]:
    rows = [(g, x, w) for g, events in streams().items() for x, w in events]
    columns = [("g", DataTypes.STRING()), ("item", DataTypes.STRING()), ("weight", DataTypes.BIGINT())]
    schema = DataTypes.ROW([DataTypes.FIELD(n, t) for n, t in columns])
    t_env.create_temporary_view("events", t_env.from_elements(rows, schema))
    found = t_env.execute_sql(
        f"SELECT g, item_summary(item, weight, {CAPACITY}, {WIDTH}, {DEPTH}) FROM events GROUP BY g"
    ).collect()
    with found:
        blobs = {r[0]: bytes(r[1]) for r in found}
    return {g: (blobs[g], events) for g, events in streams().items()}


def test_count_min_table_equals_pythons_cell_for_cell(summaries):
    for group, (blob, events) in summaries.items():
        exact = CountMinSketch(WIDTH, DEPTH)
        exact.update_batch([x for x, _ in events], [w for _, w in events])
        assert CountMinSketch.deserialize(split(blob)[1]) == exact, group


def test_space_saving_bounds_hold_against_exact_counts(summaries):
    for group, (blob, events) in summaries.items():
        truth = Counter()
        for x, w in events:
            truth[x] += w
        sketch = HeavyHittersSketch.deserialize(blob)
        ss, n = sketch.space_saving, sum(truth.values())
        assert sketch.total_weight == n and len(ss) <= CAPACITY, group
        assert ss.floor <= n / CAPACITY, group
        for x, f in truth.items():
            assert ss.lower_bound(x) <= f <= ss.upper_bound(x), (group, x)
            assert sketch.count(x).lower_bound <= f <= sketch.count(x).upper_bound, (group, x)
        kth = ranked(truth, CAPACITY // 4)[-1][1]  # a guaranteed item counts at least the k-th true count
        assert all(truth[i.item] >= kth for i in sketch.top_k(CAPACITY // 4).items if i.guaranteed), group


def test_groups_that_fit_come_out_byte_for_byte_as_pythons_sketch(summaries):
    for group in ("exact", "between", "odd"):
        blob, events = summaries[group]
        truth = Counter()
        for x, w in events:
            truth[x] += w
        python = HeavyHittersSketch(CAPACITY, WIDTH, DEPTH)
        pairs = ranked(truth)
        python.update_batch([x for x, _ in pairs], [c for _, c in pairs])
        assert blob == python.serialize(), group


def test_one_event_summary_for_late_events(t_env):
    with t_env.execute_sql(
        f"SELECT item_summary_of('🙂 late', CAST(3 AS BIGINT), {CAPACITY}, {WIDTH}, {DEPTH})"
    ).collect() as rows:
        blob = bytes(next(iter(rows))[0])
    python = HeavyHittersSketch(CAPACITY, WIDTH, DEPTH)
    python.update("🙂 late", 3)
    assert blob == python.serialize()


def test_the_jvm_reads_back_what_it_writes(summaries):
    item_summary = get_gateway().jvm.topk.udfs.ItemSummary
    for group, (blob, _) in summaries.items():
        assert bytes(item_summary.rewritten(blob)) == blob, group


def test_folding_summaries_counts_every_event_within_the_bounds(t_env, summaries):
    """``ItemSummary.folded`` (the ``(other)`` value's summary): many one-value summaries (small, exact)
    and big compacted ones, folded into one, hold the bounds against the exact counts of all their events."""
    jvm = get_gateway().jvm
    for parts in (["exact", "between", "odd"], ["turnover", "adversarial", "weighted", "exact"]):
        blobs, truth = jvm.java.util.ArrayList(), Counter()
        for group in parts:
            blob, events = summaries[group]
            blobs.add(blob)
            for x, w in events:
                truth[x] += w
        folded = HeavyHittersSketch.deserialize(bytes(jvm.topk.udfs.ItemSummary.folded(blobs)))
        n = sum(truth.values())
        assert folded.total_weight == n, parts
        for x, f in truth.items():
            assert folded.count(x).lower_bound <= f <= folded.count(x).upper_bound, (parts, x)
        exact = CountMinSketch(WIDTH, DEPTH)
        exact.update_batch(list(truth), list(truth.values()))
        assert CountMinSketch.deserialize(split(bytes(jvm.topk.udfs.ItemSummary.folded(blobs)))[1]) == exact, parts


def test_wide_tables_and_large_counts_read_back_and_fold(t_env):
    """Counts past 2^32 (8-byte columns) and Count-Min tables of more than 65,536 cells (4-byte sparse
    indexes): what the JVM writes it reads back, and folds with every count in its bounds."""
    width, depth = 1 << 17, 2
    events = [(f"big-{i % 40}", 10**11 + i) for i in range(400)] + [(x, 3) for x in ODD if x]
    rows = t_env.from_elements(
        events,
        DataTypes.ROW([DataTypes.FIELD("item", DataTypes.STRING()), DataTypes.FIELD("weight", DataTypes.BIGINT())]),
    )
    t_env.create_temporary_view("wide", rows)
    with t_env.execute_sql(f"SELECT item_summary(item, weight, 16, {width}, {depth}) FROM wide").collect() as found:
        blob = bytes(next(iter(found))[0])
    item_summary = get_gateway().jvm.topk.udfs.ItemSummary
    assert bytes(item_summary.rewritten(blob)) == blob
    blobs = get_gateway().jvm.java.util.ArrayList()
    blobs.add(blob)
    blobs.add(blob)
    folded = HeavyHittersSketch.deserialize(bytes(item_summary.folded(blobs)))
    truth = Counter()
    for x, w in events:
        truth[x] += 2 * w
    assert folded.total_weight == sum(truth.values()) > 1 << 40
    for x, f in truth.items():
        assert folded.count(x).lower_bound <= f <= folded.count(x).upper_bound, x
