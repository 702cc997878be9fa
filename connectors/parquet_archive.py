"""The archive sink: every record of a Kafka partition into Parquet files (``archive_layout``).

Keyed by Kafka partition. A thin shell over ``topk.stores.archive_writer.ArchiveWriter``: Flink
state holds each partition's records buffered since its last flush (``ListState``) and the pending
flush's time; a processing-time timer flushes ``flush_ms`` after the first buffered record (or the
partition's next record, if that timer is overdue or lost: see the writer), a full
buffer (``--archive-buffer-bytes``) flushes at once, and an event-time timer that only the final
watermark reaches flushes at the end of a bounded input (``close()`` runs too late, after pyarrow's
S3 is shut down). A flush writes new files named by its offset range; it never replaces a file with
other records, so a restore or a start from any offsets loses nothing (readers read each offset once).

Metrics (group ``archive``): ``eventsArchived``, ``deadLettersArchived`` (records taken in, again
after a restart), ``filesWritten``, ``bytesWritten``.
"""

from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor

from topk.stores.archive_layout import ArchiveSettings
from topk.stores.archive_writer import ArchivedRecord, ArchiveWriter, Step

END_OF_INPUT = 2**63 - 2


def archived_record(row: Row, dimensions: tuple[str, ...]) -> ArchivedRecord:
    """The record of one row of ``udfs.archive_rows``."""
    return ArchivedRecord(
        offset=row.offset,
        kafka_ms=row.kafka_ts.to_epoch_milli(),
        reason=row.reason,
        raw=row.raw,
        raw_length=row.raw_length,
        raw_sha256=row.raw_sha256,
        event_id=row.event_id,
        event_type=row.event_type,
        tenant=row.tenant,
        item=row.item,
        weight=row.weight,
        event_ms=row.event_ms,
        dims=tuple(row[d] for d in dimensions),  # by name: a dimension may be called like a Row method
    )


class ParquetArchiveWriter(KeyedProcessFunction):
    def __init__(self, archive: ArchiveSettings, dimensions: tuple[str, ...]):
        self.dimensions = dimensions
        self.writer = ArchiveWriter(archive, dimensions)

    def open(self, runtime_context: RuntimeContext) -> None:
        self.buffer = runtime_context.get_list_state(ListStateDescriptor("buffer", Types.PICKLED_BYTE_ARRAY()))
        self.due = runtime_context.get_state(ValueStateDescriptor("flush-due", Types.LONG()))
        group = runtime_context.get_metrics_group().add_group("archive")
        self.events = group.counter("eventsArchived")
        self.dead_letters = group.counter("deadLettersArchived")
        self.files = group.counter("filesWritten")
        self.bytes = group.counter("bytesWritten")

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context) -> tuple:
        timers = ctx.timer_service()
        record = archived_record(row, self.dimensions)
        step = self.writer.add(ctx.get_current_key(), record, self.buffer, self.due, timers.current_processing_time())
        (self.events if record.reason is None else self.dead_letters).inc()
        if step.timer is not None:
            timers.register_processing_time_timer(step.timer)
            timers.register_event_time_timer(END_OF_INPUT)
        self._count(step)
        return ()  # PyFlink iterates what a process function returns

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> tuple:
        partition = ctx.get_current_key()
        if timestamp == END_OF_INPUT:
            self._count(Step(written=self.writer.flush(partition, self.buffer, self.due)))
        else:
            self._count(self.writer.on_timer(partition, timestamp, self.buffer, self.due))
        return ()

    def _count(self, step: Step) -> None:
        self.files.inc(len(step.written))
        self.bytes.inc(sum(step.written))
