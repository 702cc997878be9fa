"""Rejected records: counted by reason (metrics ``deadLetters.<reason>``) and wrapped for the
dead-letter topic as JSON that keeps the record's first bytes (``--dead-letter-max-bytes``, cut in
the JVM: ``RawExcerpt.java``), its length and the SHA-256 of the whole, so a record of any size
makes an envelope the producer takes::

    {"reason": "invalid_json", "topic": "events", "partition": 0, "offset": 42,
     "kafkaTimestamp": 1767225600000, "value": "<the first bytes, base64>", "valueLength": 9,
     "valueSha256": "<hex>", "truncated": false}

A record of the tenant config topic the job could not take has reason ``bad_config``, that topic,
and ``detail`` saying why (``"k 50 > capacity 10"``).
"""

from __future__ import annotations

import base64
import json
import time

from pyflink.common import Row, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import MapFunction, RuntimeContext

from udfs.parse_events import REASONS


class _KafkaTimestamp(TimestampAssigner):
    def extract_timestamp(self, value: Row, record_timestamp: int) -> int:
        return min(value.kafka_ts.to_epoch_milli(), int(time.time() * 1000))


def original_kafka_time() -> WatermarkStrategy:
    """A rejected record's stream timestamp is its event time, 0; written to Kafka with it, the
    record would fall outside any retention. Dead letters keep their original Kafka timestamp, or
    now if that is later (a broker may refuse a timestamp far ahead: the sink would fail on it for
    good). (A function, not a module constant: building it needs the JVM, which Python workers lack.)"""
    return WatermarkStrategy.no_watermarks().with_timestamp_assigner(_KafkaTimestamp())


class DeadLetterEnvelope(MapFunction):
    def __init__(self, topic: str) -> None:
        self.topic = topic

    def open(self, runtime_context: RuntimeContext) -> None:
        group = runtime_context.get_metrics_group().add_group("deadLetters")
        self.counters = {reason: group.counter(reason) for reason in REASONS}
        self.records = group.counter("records")  # every reason: what an alert on the rate reads

    def map(self, row: Row) -> str:
        self.counters[row.reason].inc()
        self.records.inc()
        letter = {
            "reason": row.reason,
            "topic": row.topic or self.topic,
            "partition": row.partition,
            "offset": row.offset,
            "kafkaTimestamp": row.kafka_ts.to_epoch_milli(),
            "value": base64.b64encode(row.raw).decode("ascii"),
            "valueLength": row.raw_length,
            "valueSha256": row.raw_sha256,
            "truncated": len(row.raw) < row.raw_length,
        }
        if row.detail:
            letter["detail"] = row.detail
        return json.dumps(letter)
