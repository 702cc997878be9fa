"""The archive writer's logic, without Flink (``connectors/parquet_archive.py`` runs it keyed by
Kafka partition, with Flink state and timers).

Each partition's records are buffered (state) until a flush writes them: ``flush_ms`` after the
first buffered record (a processing-time timer), as soon as the buffer holds ``buffer_bytes``, and
at the end of a bounded input. The pending flush's time is kept in state, and the writer does not
rely on its timer alone: PyFlink sends a Python function's timer registrations to the JVM
asynchronously, and a restore after a TaskManager kill has been seen to bring back a pending flush
whose timer never fired (that partition's buffer then never flushed). So a record that arrives when
the flush is overdue flushes at once, and a partition's first record after a (re)start registers
the pending flush's timer again (Flink keeps one timer per key and time). A partition that gets no
record after such a restore keeps its buffer, in checkpointed state, until its next record.

A flush of the offsets [first, last] writes one file per dataset and hour that has records, named
by that range (``archive_layout``), then empties the buffer. The buffer's size is kept in memory
per partition, and counted again from state after a restore.

After a restore, the buffer and the Kafka offsets come from the same checkpoint: a flush repeated
with the same records writes the same files under the same names, and one with more or fewer
records writes a range that overlaps the earlier one, which readers read once (``covering``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import pyarrow as pa
from pyarrow import fs

from topk.events import EVENT_TIME_RANGE_MS
from topk.stores.archive_layout import (
    DEAD_LETTER_SCHEMA,
    DEAD_LETTERS,
    HOUR_MS,
    ArchiveSettings,
    events_of,
    events_schema,
    file_path,
    open_archive,
    sort_rows,
    write_file,
)

RECORD_OVERHEAD = 64  # bytes a record takes besides its strings and raw bytes (an estimate)
EVENT_COLUMNS = ("event_id", "event_type", "tenant", "item", "weight")
DEAD_LETTER_COLUMNS = ("reason", "raw", "raw_length", "raw_sha256")


class ArchivedRecord(NamedTuple):
    """One Kafka record as the archive keeps it: a valid event (``reason`` None) or a dead letter
    (``reason``, a prefix of its bytes, their whole length and SHA-256)."""

    offset: int
    kafka_ms: int
    reason: str | None
    raw: bytes | None
    raw_length: int | None
    raw_sha256: str | None
    event_id: str | None
    event_type: str | None
    tenant: str | None
    item: str | None
    weight: int | None
    event_ms: int | None
    dims: tuple[str | None, ...]  # one value per dimension, in the writer's order


def record_bytes(record: ArchivedRecord) -> int:
    """What a record counts for against ``buffer_bytes``."""
    texts = (record.reason, record.raw_sha256, record.event_id, record.event_type, record.tenant, record.item)
    strings = sum(len(t) for t in (*texts, *record.dims) if t is not None)
    return RECORD_OVERHEAD + len(record.raw or b"") + strings


class Buffer(Protocol):
    """PyFlink's ListState, as the writer uses it."""

    def get(self) -> Iterable[ArchivedRecord] | None: ...
    def add(self, value: ArchivedRecord) -> None: ...
    def clear(self) -> None: ...


class Due(Protocol):
    """PyFlink's ValueState of the pending flush's processing time."""

    def value(self) -> int | None: ...
    def update(self, value: int) -> None: ...
    def clear(self) -> None: ...


@dataclass(frozen=True)
class Step:
    """What the operator does after a record or a timer."""

    timer: int | None = None  # register a processing-time timer for this time
    written: tuple[int, ...] = ()  # the sizes of the files a flush wrote


class ArchiveWriter:
    def __init__(self, archive: ArchiveSettings, dimensions: tuple[str, ...]) -> None:
        self.archive, self.dimensions = archive, dimensions
        self.schema = events_schema(dimensions)  # fails at job build time on a clashing dimension name
        self.buffered: dict[int, int] = {}  # partition -> its buffer's bytes
        self.filesystem: fs.FileSystem | None = None  # connected on the first write

    def add(self, partition: int, record: ArchivedRecord, buffer: Buffer, due: Due, now_ms: int) -> Step:
        """Buffers ``record``; flushes if the buffer reached ``buffer_bytes`` or its flush is overdue,
        else asks for a timer ``flush_ms`` from now if none is pending, or again for the pending
        flush's on the partition's first record since a (re)start."""
        pending, restarted = due.value(), partition not in self.buffered
        if restarted:  # after a restore: what state holds
            self.buffered[partition] = sum(map(record_bytes, buffer.get() or ()))
        buffer.add(record)
        self.buffered[partition] += record_bytes(record)
        if self.buffered[partition] >= self.archive.buffer_bytes or _due(pending, now_ms):
            return Step(written=self.flush(partition, buffer, due))
        if pending is not None:
            return Step(timer=pending) if restarted else Step()
        due.update(now_ms + self.archive.flush_ms)
        return Step(timer=now_ms + self.archive.flush_ms)

    def on_timer(self, partition: int, timestamp: int, buffer: Buffer, due: Due) -> Step:
        """Flushes if a flush is pending and due by ``timestamp`` (a timer of a buffer since flushed
        does nothing)."""
        return Step(written=self.flush(partition, buffer, due)) if _due(due.value(), timestamp) else Step()

    def flush(self, partition: int, buffer: Buffer, due: Due) -> tuple[int, ...]:
        """Writes the buffered records, one file per dataset and hour, and empties the buffer."""
        records = list(buffer.get() or ())
        written = self._write(partition, records) if records else ()
        buffer.clear()
        due.clear()
        self.buffered[partition] = 0
        return written

    def _write(self, partition: int, records: list[ArchivedRecord]) -> tuple[int, ...]:
        if self.filesystem is None:
            self.filesystem, self.base = open_archive(self.archive.url, self.archive.s3_endpoint_url)
        first, last = min(r.offset for r in records), max(r.offset for r in records)
        files: dict[tuple[str, int], list[ArchivedRecord]] = defaultdict(list)
        lowest, highest = EVENT_TIME_RANGE_MS
        for r in records:
            # a dead letter's hour is its Kafka timestamp's, kept within what a path can name (any int64 is one)
            kafka_hour = min(max(r.kafka_ms, lowest), highest - 1)
            dataset, ms = (DEAD_LETTERS, kafka_hour) if r.reason is not None else (events_of(r.tenant), r.event_ms)
            files[(dataset, ms - ms % HOUR_MS)].append(r)
        written = []
        for (dataset, hour), rows in sorted(files.items()):
            path = file_path(self.base, dataset, hour, partition, first, last)
            written.append(write_file(self.filesystem, path, sort_rows(self._table(dataset, partition, rows))))
        return tuple(written)

    def _table(self, dataset: str, partition: int, rows: list[ArchivedRecord]) -> pa.Table:
        columns = {
            "kafka_partition": [partition] * len(rows),
            "kafka_offset": [r.offset for r in rows],
            "kafka_time": [r.kafka_ms for r in rows],
        }
        if dataset == DEAD_LETTERS:
            schema = DEAD_LETTER_SCHEMA
            columns |= {name: [getattr(r, name) for r in rows] for name in DEAD_LETTER_COLUMNS}
        else:
            schema = self.schema
            columns |= {name: [getattr(r, name) for r in rows] for name in EVENT_COLUMNS}
            columns["event_time"] = [r.event_ms for r in rows]
            columns |= {d: [r.dims[i] for r in rows] for i, d in enumerate(self.dimensions)}
        return pa.table([columns[name] for name in schema.names], schema=schema)


def _due(pending: int | None, now_ms: int) -> bool:
    """Whether a flush is pending (its time, or None) and due by ``now_ms``."""
    return pending is not None and now_ms >= pending
