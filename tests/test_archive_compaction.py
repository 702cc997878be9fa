"""Compaction on the local filesystem: the same offsets and counts from fewer files, no merge across
a gap, nothing to do the second time; and a reader whose listed file a compaction deleted."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.archive_compact import main as compact_main
from tests.archive_records import (
    DIMS,
    T0,
    Operator,
    assert_archive_has_each_record_once,
    assert_counts_exact,
    listing,
    topic,
    true_counts,
)
from topk.query.archive import READ_ATTEMPTS, EventArchive
from topk.stores.archive_compaction import compact, runs
from topk.stores.archive_layout import (
    HOUR_MS,
    events_of,
    events_schema,
    file_groups,
    file_path,
    hour_of,
    open_archive,
    parse_file,
    write_file,
)

LATER = T0 + 10 * HOUR_MS  # after every hour of ``topic``


@pytest.fixture
def sent():
    return topic(1200)


@pytest.fixture
def url(tmp_path, sent) -> str:
    """An archive of ``sent`` in many small files that overlap: a run from later offsets, then a
    replay from the start over part of it."""
    url = tmp_path.as_uri()
    later = Operator(url, flush_ms=40, buffer_bytes=6_000)
    later.run(sent[300:], 300)
    later.end()
    replay = Operator(url, flush_ms=55)
    replay.run(sent[:800], 0)
    replay.end()
    return url


def state_of(url: str) -> dict[str, int]:
    return {f.path: f.size for f in listing(url)[1]}


def test_compaction_keeps_every_offset_once_in_fewer_files(url, sent):
    before = state_of(url)
    filesystem, base = open_archive(url)
    done = compact(filesystem, base, LATER)
    after = state_of(url)
    assert done and len(after) < len(before) / 3
    assert len(after) == len(before) - sum(c.files for c in done) + len(done)
    assert all(map(parse_file, after)), "a temporary file was left behind"
    for files in file_groups(after):  # what is left: no two files of a directory and partition touch
        assert all(len(run) == 1 for run in runs(files))
    for c in done:
        table = pq.read_table(c.path)
        offsets = table["kafka_offset"].to_pylist()
        time = table["event_time" if "event_time" in table.column_names else "kafka_time"].to_pylist()
        order = list(zip(time, offsets, strict=True))
        assert len(set(offsets)) == len(offsets) == c.rows and order == sorted(order)
    assert_archive_has_each_record_once(url, sent)
    assert_counts_exact(url, sent)
    assert compact(filesystem, base, LATER) == [] and state_of(url) == after


def test_only_hours_that_ended_and_the_tenant_asked_for_are_compacted(url, sent):
    before = state_of(url)
    filesystem, base = open_archive(url)
    cutoff = T0 + HOUR_MS
    done = compact(filesystem, base, cutoff, tenant="acme")
    changed = set(before) ^ set(state_of(url))
    assert done and changed
    assert all(
        f"/{events_of('acme')}/" in path and hour_of(path.rsplit("/", 1)[0]) + HOUR_MS <= cutoff for path in changed
    )
    assert_archive_has_each_record_once(url, sent)
    assert compact(filesystem, base, LATER)  # the other tenant's, the dead letters' and later hours' runs were left


def events(offsets: list[int], partition: int = 0) -> pa.Table:
    """Events of one hour whose columns follow from their offsets (an offset's row is always the same)."""
    rows = [
        {
            "event_id": f"e{o}",
            "event_type": "generic",
            "tenant": "default",
            "item": f"i{o % 7}",
            "weight": o % 3 + 1,
            "event_time": T0 + 1_000 * (o % 50),
            "region": "eu",
            "device": None,
            "kafka_partition": partition,
            "kafka_offset": o,
            "kafka_time": T0 + 1_000 * o,
        }
        for o in offsets
    ]
    return pa.Table.from_pylist(rows, events_schema(DIMS))


def write_range(url: str, first: int, last: int, skip: range = range(0), partition: int = 0) -> None:
    """A file of [first, last] holding those offsets but ``skip`` (another hour's records)."""
    filesystem, base = open_archive(url)
    offsets = [o for o in range(first, last + 1) if o not in skip]
    path = file_path(base, events_of("default"), T0, partition, first, last)
    write_file(filesystem, path, events(offsets, partition))


def ranges(url: str) -> list[tuple[int, int, int]]:
    return sorted((f.partition, f.first, f.last) for f in map(parse_file, state_of(url)))


def test_runs_are_not_merged_across_a_gap(tmp_path):
    url = tmp_path.as_uri()
    for first, last in [(0, 9), (10, 19), (30, 39), (40, 49), (45, 60), (100, 150), (100, 120), (110, 130), (61, 70)]:
        write_range(url, first, last, skip=range(12, 14))  # 12 and 13: another hour's
    write_range(url, 0, 5, partition=1)
    filesystem, base = open_archive(url)
    assert len(compact(filesystem, base, LATER)) == 3
    assert ranges(url) == [(0, 0, 19), (0, 30, 70), (0, 100, 150), (1, 0, 5)]
    archive = EventArchive(url)

    def counts(offsets) -> dict[str, int]:
        table = events(list(offsets))
        return dict(zip(*table.group_by("item").aggregate([("weight", "sum")]).to_pydict().values(), strict=True))

    rows = [*range(0, 12), *range(14, 20), *range(30, 71), *range(100, 151)]  # 20-29: not archived yet
    assert archive.counts(T0, T0 + HOUR_MS)[0] == counts([*rows, *range(0, 6)])
    write_range(url, 20, 29)  # a replay fills the gap: it is read, then merged
    assert archive.counts(T0, T0 + HOUR_MS)[0] == counts([*rows, *range(20, 30), *range(0, 6)])
    assert len(compact(filesystem, base, LATER)) == 1
    assert ranges(url) == [(0, 0, 70), (0, 100, 150), (1, 0, 5)]
    assert archive.counts(T0, T0 + HOUR_MS)[0] == counts([*rows, *range(20, 30), *range(0, 6)])


def test_a_reader_lists_again_when_a_compaction_deleted_a_listed_file(url, sent):
    archive = EventArchive(url)
    listed, calls = archive._files, []

    def list_then_compact(*args):
        calls.append(args)
        files = listed(*args)
        if len(calls) == 1:  # a compaction between the listing and the reading
            assert compact(archive.filesystem, archive.base, LATER)
        return files

    archive._files = list_then_compact
    start, end = T0, T0 + 3 * HOUR_MS
    counts, scan = archive.counts(start, end)
    assert counts == true_counts(sent, start, end) and len(calls) == 2
    assert scan.files == len(listed(start, end, "default"))  # after the compaction: one file per run


def test_a_reader_gives_up_on_files_that_keep_vanishing(url):
    archive = EventArchive(url)
    listed, calls = archive._files, []

    def list_then_delete(*args):
        calls.append(args)
        files = listed(*args)
        archive.filesystem.delete_file(files[0].path)
        return files

    archive._files = list_then_delete
    with pytest.raises(FileNotFoundError):
        archive.counts(T0, T0 + 3 * HOUR_MS)
    assert len(calls) == READ_ATTEMPTS


def test_the_command_line_compacts_and_says_what_it_did(url, sent, capsys):
    before = state_of(url)
    compact_main(["--archive-url", url, "--before", "2026-01-01T10:00"])
    out = capsys.readouterr().out
    written = out.count(" files -> 1, ")
    assert written and f"{len(before) - len(state_of(url)) + written} files into {written}" in out
    assert "tenant all, hours ending by 2026-01-01T10:00:00.000Z" in out
    assert_archive_has_each_record_once(url, sent)
