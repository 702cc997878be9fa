"""The archive sink: every record of a Kafka partition into Parquet files (``archive_layout``).

Keyed by Kafka partition (records arrive in offset order). The records of the open offset block
are kept in Flink state until the block closes, when the first record of the next block arrives:
its files are written then, rewritten every ``flush_ms`` while it is open (so recent events can
be queried before the block fills), and at the end of a bounded input (an event-time timer that
only the final watermark reaches; ``close()`` runs too late, after pyarrow's S3 is shut down).

After a crash Flink restores the open block's records with the Kafka offsets of the same
checkpoint and reads on from there: every file is rewritten with exactly the records it had, so
the archive has each record once. (A restart from other offsets, e.g. a replay, must write to
another ``--archive-url``: a block seen only in part would overwrite the full file.)

Metrics (group ``archive``): ``eventsArchived``, ``deadLettersArchived`` (records taken in, again
after a restart), ``filesWritten``, ``bytesWritten``, ``blocksClosed``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa
from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor

from topk.stores.archive_layout import (
    DEAD_LETTER_SCHEMA,
    DEAD_LETTERS,
    HOUR_MS,
    ArchiveSettings,
    events_of,
    events_schema,
    file_path,
    open_archive,
    write_file,
)

# one archived record: (offset, kafka_ms, reason, raw, event_id, event_type, tenant, item, weight, event_ms, *dims)
Record = tuple[Any, ...]
END_OF_INPUT = 2**63 - 2


class ParquetArchiveWriter(KeyedProcessFunction):
    def __init__(self, archive: ArchiveSettings, dimensions: tuple[str, ...]):
        self.url, self.endpoint_url = archive.url, archive.s3_endpoint_url
        self.dimensions, self.block_offsets, self.flush_ms = dimensions, archive.block_offsets, archive.flush_ms
        self.schema = events_schema(dimensions)  # fails at job build time on a clashing dimension name

    def open(self, runtime_context: RuntimeContext) -> None:
        self.records = runtime_context.get_list_state(ListStateDescriptor("block-records", Types.PICKLED_BYTE_ARRAY()))
        self.block = runtime_context.get_state(ValueStateDescriptor("block", Types.LONG()))
        self.flush_due = runtime_context.get_state(ValueStateDescriptor("flush-due", Types.LONG()))
        group = runtime_context.get_metrics_group().add_group("archive")
        self.events = group.counter("eventsArchived")
        self.dead_letters = group.counter("deadLettersArchived")
        self.files = group.counter("filesWritten")
        self.bytes = group.counter("bytesWritten")
        self.blocks = group.counter("blocksClosed")
        self.cache: dict[int, tuple[int, list[Record]]] = {}  # partition -> its open block, as in state
        self.filesystem = None  # connected on the first write: a failing open() can hang a PyFlink job

    def _open_block(self, partition: int) -> tuple[int | None, list[Record]]:
        """The partition's open block and its records (read from state once after a restart)."""
        if partition not in self.cache:
            self.cache[partition] = (self.block.value(), list(self.records.get() or []))
        return self.cache[partition]

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context) -> tuple:
        partition = ctx.get_current_key()
        current, records = self._open_block(partition)
        block = row.offset - row.offset % self.block_offsets
        if block != current:
            if current is not None:
                self._write(partition, current, records)
                self.blocks.inc()
                self.records.clear()
            records = []
            self.cache[partition] = (block, records)
            self.block.update(block)
        record = (row.offset, row.kafka_ts.to_epoch_milli(), row.reason, row.raw, *tuple(row)[4:-1])
        self.records.add(record)
        records.append(record)
        (self.events if row.reason is None else self.dead_letters).inc()
        if self.flush_due.value() is None:
            due = ctx.timer_service().current_processing_time() + self.flush_ms
            ctx.timer_service().register_processing_time_timer(due)
            ctx.timer_service().register_event_time_timer(END_OF_INPUT)
            self.flush_due.update(due)
        return ()  # PyFlink iterates what a process function returns

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> tuple:
        self.flush_due.clear()
        partition = ctx.get_current_key()
        block, records = self._open_block(partition)
        if block is not None:
            self._write(partition, block, records)
        return ()

    def _write(self, partition: int, block: int, records: list[Record]) -> None:
        """(Re)write the block's files: one per dataset and hour."""
        if self.filesystem is None:
            self.filesystem, self.base = open_archive(self.url, self.endpoint_url)
        files: dict[tuple[str, int], list[Record]] = defaultdict(list)
        for r in records:
            dataset, ms = (events_of(r[6]), r[9]) if r[2] is None else (DEAD_LETTERS, r[1])
            files[(dataset, ms - ms % HOUR_MS)].append(r)
        for (dataset, hour), rows in sorted(files.items()):
            table = self._table(dataset, partition, rows)
            path = file_path(self.base, dataset, hour, partition, block)
            self.bytes.inc(write_file(self.filesystem, path, table))
            self.files.inc()

    def _table(self, dataset: str, partition: int, rows: list[Record]) -> pa.Table:
        time_at = 1 if dataset == DEAD_LETTERS else 9
        rows = sorted(rows, key=lambda r: (r[time_at], r[0]))
        kafka = {"kafka_partition": [partition] * len(rows), "kafka_offset": [r[0] for r in rows]}
        kafka["kafka_time"] = [r[1] for r in rows]
        if dataset == DEAD_LETTERS:
            return pa.table({**kafka, "reason": [r[2] for r in rows], "raw": [r[3] for r in rows]}, DEAD_LETTER_SCHEMA)
        names = ["event_id", "event_type", "tenant", "item", "weight", "event_time", *self.dimensions]
        columns = {name: [r[4 + i] for r in rows] for i, name in enumerate(names)}
        return pa.table({**columns, **kafka}, self.schema)
