"""The archive writer (``ArchiveWriter``, run as the Flink operator runs it) on the local filesystem:
flushes by timer and by size into files named by their offset range, restores and restarts from
other offsets that overlap earlier files, and a reader that reads each offset once."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.archive_records import (
    RAW_MAX,
    Operator,
    Sent,
    archived,
    assert_archive_has_each_record_once,
    assert_counts_exact,
    listing,
    topic,
)
from topk.stores.archive_layout import (
    DEAD_LETTER_SCHEMA,
    DEAD_LETTERS,
    ArchiveFile,
    covering,
    events_of,
    hour_dir,
    open_archive,
    parse_file,
)
from topk.stores.archive_writer import Step, record_bytes


def files_of(url: str) -> list[ArchiveFile]:
    found = [parse_file(f.path) for f in listing(url)[1]]
    assert all(found), "a file with a name that is not a range"
    return found


def directory_of(base: str, record) -> str:
    if record.reason is not None:
        return hour_dir(base, DEAD_LETTERS, record.kafka_ms)
    return hour_dir(base, events_of(record.tenant), record.event_ms)


def test_a_full_buffer_flushes_into_files_named_by_their_offset_range(tmp_path):
    url, sent = tmp_path.as_uri(), topic(1500)
    op = Operator(url, flush_ms=10**9, buffer_bytes=4_000)  # the timer never fires: size alone
    op.run(sent, 0)
    op.end()
    files, (_, base) = files_of(url), open_archive(url)
    for p in range(3):
        records = [s.record for s in sent if s.partition == p]
        ranges = sorted({(f.first, f.last) for f in files if f.partition == p})
        assert len(ranges) > 10
        assert ranges[0][0] == records[0].offset and ranges[-1][1] == records[-1].offset
        assert all(b[0] == a[1] + 1 for a, b in pairwise(ranges)), "flushes overlap or skip"
        for first, last in ranges[:-1]:  # each flushed as soon as it reached 4,000 bytes
            sizes = [record_bytes(r) for r in records if first <= r.offset <= last]
            assert sum(sizes) >= 4_000 > sum(sizes[:-1])
    for f in files:  # each file: exactly its directory's records of its range, by time then offset
        table = pq.read_table(f.path)
        want = [
            s.record
            for s in sent
            if s.partition == f.partition
            and f.first <= s.record.offset <= f.last
            and directory_of(base, s.record) == f.path.rsplit("/", 1)[0]
        ]
        time = "kafka_time" if DEAD_LETTERS in f.path else "event_time"
        rows = list(zip(table[time].to_pylist(), table["kafka_offset"].to_pylist(), strict=True))
        assert rows == sorted(rows) and sorted(o for _, o in rows) == sorted(r.offset for r in want)
    assert len(op.written) == len(files)
    assert_archive_has_each_record_once(url, sent)
    assert_counts_exact(url, sent)


def test_the_timer_flushes_flush_ms_after_the_first_buffered_record(tmp_path):
    url = tmp_path.as_uri()
    sent = [s for s in topic(400) if s.partition == 1][:30]
    op = Operator(url, flush_ms=100)
    writer, state = op.writer, op.state[1]
    steps = [writer.add(1, s.record, state.buffer, state.due, 1_000 + i) for i, s in enumerate(sent)]
    assert steps[0] == Step(timer=1_100) and all(step == Step() for step in steps[1:])
    assert listing(url)[1] == []
    assert writer.on_timer(1, 1_099, state.buffer, state.due) == Step()  # not the pending flush's time
    step = writer.on_timer(1, 1_100, state.buffer, state.due)
    files, (_, base) = files_of(url), open_archive(url)
    assert {(f.partition, f.first, f.last) for f in files} == {(1, sent[0].record.offset, sent[-1].record.offset)}
    assert len(step.written) == len(files) == len({directory_of(base, s.record) for s in sent}) > 1
    assert state.buffer == [] and state.due.value() is None
    assert writer.add(1, sent[0].record, state.buffer, state.due, 5_000) == Step(timer=5_100)


def test_a_timer_of_a_buffer_flushed_for_its_size_does_nothing(tmp_path):
    url = tmp_path.as_uri()
    sent = [s.record for s in topic(400) if s.partition == 0]
    op = Operator(url, flush_ms=1_000, buffer_bytes=1_500)
    writer, state = op.writer, op.state[0]
    assert writer.add(0, sent[0], state.buffer, state.due, 0) == Step(timer=1_000)
    i = 1
    while not (step := writer.add(0, sent[i], state.buffer, state.due, i)).written:
        assert step == Step()
        i += 1
    assert 2 < i < 30 and writer.add(0, sent[i + 1], state.buffer, state.due, i + 1) == Step(timer=i + 1 + 1_000)
    files = files_of(url)
    assert writer.on_timer(0, 1_000, state.buffer, state.due) == Step()
    assert files_of(url) == files and state.buffer == [sent[i + 1]]
    assert writer.on_timer(0, i + 1 + 1_000, state.buffer, state.due).written and state.buffer == []


@pytest.mark.parametrize(("flush_ms", "buffer_bytes"), [(50, 1 << 30), (10**9, 3_000), (70, 5_000)])
def test_a_restored_writer_repeats_a_flush_byte_for_byte(tmp_path, flush_ms, buffer_bytes):
    url, sent = tmp_path.as_uri(), topic(900)
    first = Operator(url, flush_ms, buffer_bytes)
    first.run(sent[:400], 0)
    checkpoint = first.checkpoint()
    first.run(sent[400:600], 400)  # flushes after the checkpoint, then the worker dies

    def contents() -> dict[str, bytes]:
        return {f.path: open(f.path, "rb").read() for f in listing(url)[1]}

    before = contents()
    restored = Operator(url, flush_ms, buffer_bytes, state=checkpoint)  # the buffer's size: from state
    restored.run(sent[400:600], 400)
    assert restored.written and contents() == before  # the same names, with the same bytes
    restored.run(sent[600:], 600)
    restored.end()
    assert_archive_has_each_record_once(url, sent)


def test_a_pending_flush_restored_without_its_timer_still_flushes(tmp_path):
    """A restore has been seen to bring back a pending flush whose timer never fired (the soak, after
    a TaskManager kill): here the checkpoint's timers are dropped. The partition's next record
    registers it again, or flushes at once when the flush is overdue; a late timer flushes too."""
    url, sent = tmp_path.as_uri(), topic(600)
    first = Operator(url, flush_ms=50)
    first.run(sent[:30], 0)
    checkpoint = first.checkpoint()
    pending = {p: s.due.value() for p, s in checkpoint.items()}
    assert len(pending) == 3 and all(pending.values()) and all(s.buffer for s in checkpoint.values())
    for state in checkpoint.values():
        state.timers.clear()

    restored = Operator(url, flush_ms=50, state=checkpoint)
    p0, p1 = ([s for s in sent[30:] if s.partition == p] for p in range(2))
    state = restored.state
    assert restored.writer.add(0, p0[0].record, state[0].buffer, state[0].due, pending[0] - 1) == Step(timer=pending[0])
    assert restored.writer.add(0, p0[1].record, state[0].buffer, state[0].due, pending[0] - 1) == Step()
    step = restored.writer.add(1, p1[0].record, state[1].buffer, state[1].due, pending[1])  # overdue: at once
    assert step.written and state[1].buffer == [] and state[1].due.value() is None
    assert restored.writer.on_timer(2, pending[2] - 1, state[2].buffer, state[2].due) == Step()
    assert restored.writer.on_timer(2, pending[2] + 7, state[2].buffer, state[2].due).written
    assert restored.writer.on_timer(0, pending[0], state[0].buffer, state[0].due).written
    restored.end()
    assert_archive_has_each_record_once(url, [*sent[:30], p0[0], p0[1], p1[0]])


def overlaps(earlier: list[ArchiveFile], later: list[ArchiveFile], how) -> bool:
    """Whether a later file and an earlier one of the same directory and partition overlap ``how``."""
    key = defaultdict(list)
    for f in earlier:
        key[(f.path.rsplit("/", 1)[0], f.partition)].append(f)
    return any(how(a, b) for b in later for a in key[(b.path.rsplit("/", 1)[0], b.partition)] if a != b)


def restored(url: str, sent: list[Sent], resumed_at: int, how) -> bool:
    """A worker flushes after a checkpoint and is lost; the operator restored from that checkpoint reads
    the rest with its clock at ``resumed_at``. Whether a file it wrote overlaps an earlier one ``how``."""
    lost = Operator(url, flush_ms=40)
    lost.run(sent[:500], 0)
    checkpoint = lost.checkpoint()
    lost.run(sent[500:620], 500)
    earlier = files_of(url)
    again = Operator(url, flush_ms=40, state=checkpoint)
    again.run(sent[500:], resumed_at)
    again.end()
    return overlaps(earlier, files_of(url), how)


def restored_first_flush_shorter(url: str, sent: list[Sent]) -> bool:
    """Restored timers fire at once (the restart took a while): the first flush of [first, x] ends
    before the one the lost worker wrote, [first, y]."""
    return restored(url, sent, 500 + 1_000, lambda a, b: a.first == b.first and b.last < a.last)


def restored_first_flush_longer(url: str, sent: list[Sent]) -> bool:
    """Restored timers fire late (records came first): the first flush ends after the lost one's."""
    return restored(url, sent, 500 - 60, lambda a, b: a.first == b.first and b.last > a.last)


def started_without_state_later(url: str, sent: list[Sent]) -> bool:
    """Started without state from committed offsets inside files already written."""
    before = Operator(url, flush_ms=40)
    before.run(sent[:700], 0)
    before.end()
    earlier = files_of(url)
    after = Operator(url, flush_ms=55, buffer_bytes=9_000)
    after.run(sent[350:], 350)
    after.end()
    return overlaps(earlier, files_of(url), lambda a, b: a.first < b.first <= a.last)


def started_without_state_earlier(url: str, sent: list[Sent]) -> bool:
    """A replay from earlier offsets over files a run from later offsets wrote."""
    later = Operator(url, flush_ms=40)
    later.run(sent[400:], 400)
    later.end()
    earlier = files_of(url)
    replay = Operator(url, flush_ms=55, buffer_bytes=9_000)
    replay.run(sent[:700], 0)
    replay.end()
    return overlaps(earlier, files_of(url), lambda a, b: b.first < a.first <= b.last)


@pytest.mark.parametrize(
    "scenario",
    [
        restored_first_flush_shorter,
        restored_first_flush_longer,
        started_without_state_later,
        started_without_state_earlier,
    ],
)
def test_every_offset_is_read_once_however_the_files_overlap(tmp_path, scenario):
    url, sent = tmp_path.as_uri(), topic(1200)
    assert scenario(url, sent), "the scenario wrote no overlapping files"
    plan = covering(f.path for f in listing(url)[1])
    assert len(plan) < len(listing(url)[1]) or any(after is not None for _, after in plan)
    assert_archive_has_each_record_once(url, sent)
    assert_counts_exact(url, sent)


def test_dead_letters_keep_the_whole_records_length_and_sha256(tmp_path):
    assert DEAD_LETTER_SCHEMA.field("raw_length").type == pa.int64()
    assert DEAD_LETTER_SCHEMA.field("raw_sha256").type == pa.string()
    url, sent = tmp_path.as_uri(), topic(600)
    op = Operator(url, flush_ms=100)
    op.run(sent, 0)
    op.end()
    dead = archived(url, DEAD_LETTERS)
    assert dead.schema == DEAD_LETTER_SCHEMA
    cut = [r for r in dead.to_pylist() if r["raw_length"] > len(r["raw"])]
    assert cut and all(len(r["raw"]) == RAW_MAX for r in cut)
    assert_archive_has_each_record_once(url, sent)  # raw, raw_length and raw_sha256 as sent


def test_covering_reads_each_offset_once_and_ignores_other_names():
    d, e = "a/date=2026-01-01/hour=00", "a/date=2026-01-01/hour=01"

    def name(directory: str, partition: int, first: int, last: int) -> str:
        return f"{directory}/part-{partition:05d}-{first:020d}-{last:020d}.parquet"

    paths = [
        name(d, 0, 10, 19),
        name(d, 0, 0, 9),
        name(d, 0, 0, 14),
        name(d, 0, 15, 17),
        name(d, 0, 25, 30),
        name(d, 1, 5, 8),
        name(e, 0, 12, 40),
        f"{d}/part-00000-00000000000000000000.parquet",
        f"{d}/.{name('', 0, 31, 40)[1:]}.1234.tmp",
    ]
    assert covering(paths) == [
        (name(d, 0, 0, 14), None),
        (name(d, 0, 10, 19), 14),
        (name(d, 0, 25, 30), None),
        (name(d, 1, 5, 8), None),
        (name(e, 0, 12, 40), None),
    ]
