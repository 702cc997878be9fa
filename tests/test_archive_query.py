"""Exact counts from an archive on the local filesystem: partition pruning, exact ms bounds,
dimension filters, ranking, the byte budget (the S3 path is covered by tests/integration/test_archive.py)."""

from __future__ import annotations

from functools import partial

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from topk.query.api import ApiConfig, create_app
from topk.query.archive import EventArchive, NotArchived, ranked
from topk.query.budgets import OverBudget
from topk.query.engine import TopKQueries
from topk.stores.archive_layout import HOUR_MS, events_of, events_schema, file_path, open_archive, write_file
from topk.windows import parse_windows

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z


def events_table(rows: list[tuple[str, int, str]], tenant: str = "default", first: int = 0) -> pa.Table:
    """(item, event ms, region) rows as an archive file's table, offsets from ``first``."""
    n = len(rows)
    columns = {
        "event_id": [f"e{i}" for i in range(n)],
        "event_type": ["generic"] * n,
        "tenant": [tenant] * n,
        "item": [r[0] for r in rows],
        "weight": [1] * n,
        "event_time": [r[1] for r in rows],
        "region": [r[2] for r in rows],
        "kafka_partition": [0] * n,
        "kafka_offset": list(range(first, first + n)),
        "kafka_time": [r[1] for r in rows],
    }
    return pa.table(columns, events_schema(("region",)))


@pytest.fixture
def archive(tmp_path) -> EventArchive:
    filesystem, base = open_archive(tmp_path.as_uri())
    hour0 = [("a", T0 + 10, "eu"), ("a", T0 + 20, "us"), ("b", T0 + HOUR_MS - 1, "eu")]
    day1 = [("b", T0 + 24 * HOUR_MS + 5, "eu"), ("c", T0 + 24 * HOUR_MS + 6, "eu")]
    events = events_of("default")
    write_file(filesystem, file_path(base, events, T0, 0, 0, 2), events_table(hour0))
    write_file(filesystem, file_path(base, events, T0 + 24 * HOUR_MS, 0, 100, 101), events_table(day1, first=100))
    other = [("z", T0 + 30, "eu")] * 5
    write_file(filesystem, file_path(base, events_of("acme"), T0, 0, 0, 4), events_table(other, "acme"))
    return EventArchive(tmp_path.as_uri())


def test_counts_are_exact_at_millisecond_bounds(archive):
    assert archive.counts(T0, T0 + 25 * HOUR_MS)[0] == {"a": 2, "b": 2, "c": 1}
    assert archive.counts(T0 + 11, T0 + HOUR_MS - 1)[0] == {"a": 1}
    assert archive.counts(T0 + HOUR_MS - 1, T0 + 24 * HOUR_MS + 6)[0] == {"b": 2}


def test_a_tenant_reads_only_its_own_events(archive):
    assert archive.counts(T0, T0 + HOUR_MS, tenant="acme")[0] == {"z": 5}
    assert "z" not in archive.counts(T0, T0 + HOUR_MS)[0]
    assert archive.counts(T0, T0 + HOUR_MS, tenant="nobody")[0] == {}


def test_only_overlapping_hours_are_read(archive):
    _, scan = archive.counts(T0 + 24 * HOUR_MS, T0 + 25 * HOUR_MS)
    assert (scan.partitions, scan.files) == (1, 1) and scan.bytes > 0
    assert archive.counts(T0 + 2 * HOUR_MS, T0 + 3 * HOUR_MS)[1].files == 0


def test_dimension_filter_and_unarchived_dimension(archive):
    assert archive.counts(T0, T0 + 25 * HOUR_MS, "region", "eu")[0] == {"a": 1, "b": 2, "c": 1}
    with pytest.raises(NotArchived):
        archive.counts(T0, T0 + 25 * HOUR_MS, "category", "books")


def test_ranking_and_schema_rules():
    assert ranked({"x": 2, "a": 2, "b": 5}, 2) == [("b", 5), ("a", 2)]
    with pytest.raises(ValueError, match="clash"):
        events_schema(("region", "item"))


ODD = ["/page/1", "a b", "..", "50%", "naïve ☃ 🚀", "\t\n"]


def test_top_and_count_are_exact_and_ranked_without_a_table_of_items(tmp_path):
    filesystem, base = open_archive(tmp_path.as_uri())
    rows = [(item, T0 + n, "eu") for n, item in enumerate(ODD * 3 + ["z"] * 9 + ["b", "a", "c"] * 2)]
    write_file(filesystem, file_path(base, events_of("default"), T0, 0, 0, len(rows) - 1), events_table(rows))
    archive = EventArchive(tmp_path.as_uri())
    truth = {**dict.fromkeys(ODD, 3), "z": 9, "a": 2, "b": 2, "c": 2}
    for k in (1, 2, 7, 8, 100):  # ties at the k-th count ranked by item, as ``ranked`` ranks them
        assert archive.top(k, T0, T0 + HOUR_MS)[:2] == (ranked(truth, k), sum(truth.values())), k
    for item in [*truth, "never"]:
        assert archive.count(item, T0, T0 + HOUR_MS)[:2] == (truth.get(item, 0), sum(truth.values())), item
    assert archive.count("z", T0, T0 + HOUR_MS, "region", "us")[:2] == (0, 0)


def test_an_exact_answer_past_its_byte_budget_is_refused_before_a_file_is_read(archive, tmp_path):
    lo, hi = T0, T0 + 25 * HOUR_MS
    counts, scan = archive.counts(lo, hi)
    assert archive.counts(lo, hi, max_bytes=scan.bytes)[0] == counts
    filesystem, base = open_archive(tmp_path.as_uri())
    with filesystem.open_output_stream(file_path(base, events_of("default"), T0, 1, 0, 5)) as out:
        out.write(b"not parquet: reading it would fail")  # listed and counted in the size, never read
    for ask in (archive.counts, partial(archive.top, 3), partial(archive.count, "a")):
        with pytest.raises(OverBudget, match=f"at most {scan.bytes:,} \\(--max-exact-bytes\\)"):
            ask(lo, hi, max_bytes=scan.bytes)

    queries = TopKQueries(None, None, None, list(parse_windows("1m,1h")), archive=archive, max_exact_bytes=scan.bytes)
    api = TestClient(create_app(queries, ApiConfig(parse_windows("1m,1h"))))
    for path in ("/api/v1/topk/historical", "/api/v1/count/a"):
        r = api.get(path, params={"start": str(lo), "end": str(hi), "mode": "exact"})
        assert r.status_code == 400 and "--max-exact-bytes" in r.json()["detail"], r.text
