"""A Kafka topic's records as the archive writer gets them, the writer run as Flink runs it (state
per partition, processing-time timers, checkpoints), and what the archive holds read back (the
writer's and the compaction's tests share them)."""

from __future__ import annotations

import copy
import hashlib
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pyarrow as pa
from pyarrow import fs

from topk.query.archive import EventArchive, read_archive
from topk.stores.archive_layout import DEAD_LETTERS, EVENTS, HOUR_MS, ArchiveSettings, open_archive
from topk.stores.archive_writer import ArchivedRecord, ArchiveWriter
from topk.times import epoch_ms

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
MINUTE = 60_000
DIMS = ("region", "device")
RAW_MAX = 48


@dataclass(frozen=True)
class Sent:
    """One record of the topic: its partition and what the writer gets."""

    partition: int
    record: ArchivedRecord


def topic(n: int, partitions: int = 3, seed: int = 7) -> list[Sent]:
    """``n`` records interleaved over ``partitions`` (offsets from a different start each), Kafka
    times over ~2 h from T0 + 40 min, events up to 50 min behind (a few hours behind: sparse old
    hours), two tenants, skewed items, optional dimensions, ~8% dead letters of varied sizes."""
    rng = random.Random(seed)
    next_offset = {p: 1_000 * p + 17 for p in range(partitions)}
    sent = []
    for i in range(n):
        p = rng.randrange(partitions)
        offset, next_offset[p] = next_offset[p], next_offset[p] + 1
        kafka_ms = T0 + 40 * MINUTE + i * (7_200_000 // n)
        make = _dead_letter if rng.random() < 0.08 else _event
        sent.append(Sent(p, make(rng, offset, kafka_ms)))
    return sent


def _event(rng: random.Random, offset: int, kafka_ms: int) -> ArchivedRecord:
    behind = rng.randrange(50 * MINUTE) if rng.random() < 0.97 else rng.randrange(2, 4) * HOUR_MS
    return ArchivedRecord(
        offset=offset,
        kafka_ms=kafka_ms,
        reason=None,
        raw=None,
        raw_length=None,
        raw_sha256=None,
        event_id=f"e{offset}",
        event_type=rng.choice(["generic", "page_view"]),
        tenant="acme" if rng.random() < 0.3 else "default",
        item=f"item{min(int(rng.paretovariate(1.2)), 25)}",
        weight=rng.randint(1, 5),
        event_ms=kafka_ms - behind,
        dims=(rng.choice(["eu", "us", "ap", None]), rng.choice(["phone", "desktop"])),
    )


def _dead_letter(rng: random.Random, offset: int, kafka_ms: int) -> ArchivedRecord:
    whole = rng.randbytes(rng.randrange(300))
    return ArchivedRecord(
        offset=offset,
        kafka_ms=kafka_ms,
        reason=rng.choice(["invalid_json", "missing_item"]),
        raw=whole[:RAW_MAX],
        raw_length=len(whole),
        raw_sha256=hashlib.sha256(whole).hexdigest(),
        event_id=None,
        event_type=None,
        tenant=None,
        item=None,
        weight=None,
        event_ms=None,
        dims=(None, None),
    )


class ListBuffer(list):
    """PyFlink's ListState as the writer uses it."""

    def get(self) -> list[ArchivedRecord]:
        return list(self)

    def add(self, value: ArchivedRecord) -> None:
        self.append(value)


@dataclass
class Due:
    """PyFlink's ValueState of the pending flush time."""

    due: int | None = None

    def value(self) -> int | None:
        return self.due

    def update(self, value: int) -> None:
        self.due = value

    def clear(self) -> None:
        self.due = None


@dataclass
class State:
    """One partition's keyed state and timers."""

    buffer: ListBuffer = field(default_factory=ListBuffer)
    due: Due = field(default_factory=Due)
    timers: set[int] = field(default_factory=set)


class Operator:
    """The writer as the Flink operator runs it: record i arrives at processing time ``i`` ms, and
    timers that are due fire before it (in time order); ``state`` is what a restore gives."""

    def __init__(self, url: str, flush_ms: int, buffer_bytes: int = 1 << 30, state: dict | None = None) -> None:
        settings = ArchiveSettings(url=url, buffer_bytes=buffer_bytes, flush_ms=flush_ms).validate()
        self.writer = ArchiveWriter(settings, DIMS)
        self.state: dict[int, State] = defaultdict(State, copy.deepcopy(state or {}))
        self.written: list[int] = []

    def run(self, sent: list[Sent], start: int) -> None:
        """``sent`` arriving from stream position ``start`` on."""
        for now, s in enumerate(sent, start):
            self.fire(now)
            state = self.state[s.partition]
            step = self.writer.add(s.partition, s.record, state.buffer, state.due, now)
            self.written += step.written
            if step.timer is not None:
                state.timers.add(step.timer)

    def fire(self, now: int) -> None:
        for partition, state in sorted(self.state.items()):
            for t in sorted(t for t in state.timers if t <= now):
                state.timers.discard(t)
                self.written += self.writer.on_timer(partition, t, state.buffer, state.due).written

    def end(self) -> None:
        """The end of a bounded input: every partition flushed."""
        for partition, state in sorted(self.state.items()):
            self.written += self.writer.flush(partition, state.buffer, state.due)

    def checkpoint(self) -> dict[int, State]:
        return copy.deepcopy(dict(self.state))


def listing(url: str, dataset: str = "") -> tuple[fs.FileSystem, list[fs.FileInfo]]:
    """Every file under the archive (or one dataset of it)."""
    filesystem, base = open_archive(url)
    root = f"{base}/{dataset}".rstrip("/")
    found = filesystem.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True))
    return filesystem, [f for f in found if f.type == fs.FileType.File]


def archived(url: str, dataset: str) -> pa.Table:
    """The rows of one dataset (``events``, ``dead_letters``) of every hour, as a reader sees them."""
    filesystem, _ = listing(url)
    table, _ = read_archive(filesystem, lambda: listing(url, dataset)[1])
    return table


def offsets(table: pa.Table) -> list[tuple[int, int]]:
    """(partition, offset) of each row, sorted (repeats kept)."""
    return sorted(zip(table["kafka_partition"].to_pylist(), table["kafka_offset"].to_pylist(), strict=True))


def expected(sent: list[Sent], dataset: str) -> list[tuple[int, int]]:
    dead = dataset == DEAD_LETTERS
    return sorted((s.partition, s.record.offset) for s in sent if (s.record.reason is not None) == dead)


def true_counts(sent: list[Sent], start: int, end: int, tenant: str = "default", dim: int | None = None, value=None):
    counts: Counter[str] = Counter()
    for s in sent:
        r = s.record
        counted = r.reason is None and r.tenant == tenant and start <= r.event_ms < end
        if counted and (dim is None or r.dims[dim] == value):
            counts[r.item] += r.weight
    return dict(counts)


def assert_archive_has_each_record_once(url: str, sent: list[Sent]) -> None:
    """Every event and dead letter read back once, with every column as sent."""
    events, dead = archived(url, EVENTS), archived(url, DEAD_LETTERS)
    assert offsets(events) == expected(sent, EVENTS)
    assert offsets(dead) == expected(sent, DEAD_LETTERS)
    by_offset = {(s.partition, s.record.offset): s.record for s in sent}
    for row in events.to_pylist():
        r = by_offset[(row["kafka_partition"], row["kafka_offset"])]
        assert (row["event_id"], row["tenant"], row["item"], row["weight"], row["region"], row["device"]) == (
            r.event_id,
            r.tenant,
            r.item,
            r.weight,
            *r.dims,
        )
        assert epoch_ms(row["event_time"]) == r.event_ms
    for row in dead.to_pylist():
        r = by_offset[(row["kafka_partition"], row["kafka_offset"])]
        assert (row["reason"], row["raw"], row["raw_length"], row["raw_sha256"]) == (
            r.reason,
            r.raw,
            r.raw_length,
            r.raw_sha256,
        )


RANGES = [
    (T0 - 4 * HOUR_MS, T0 + 4 * HOUR_MS),  # everything
    (T0 + 37 * MINUTE + 123, T0 + 2 * HOUR_MS + 11 * MINUTE + 7),  # aligned to nothing
    (T0 + HOUR_MS, T0 + 2 * HOUR_MS),
    (T0 - 3 * HOUR_MS, T0),  # the very late events only
]


def assert_counts_exact(url: str, sent: list[Sent]) -> None:
    """Exact counts per tenant, range and dimension value equal the truth (never empty)."""
    archive = EventArchive(url)
    for start, end in RANGES:
        for tenant in ("default", "acme"):
            truth = true_counts(sent, start, end, tenant)
            assert truth and archive.counts(start, end, tenant=tenant)[0] == truth
        assert archive.counts(start, end, "region", "eu")[0] == true_counts(sent, start, end, "default", 0, "eu")
