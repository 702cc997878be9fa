"""The tenant config topic (``topk.tenant_config``): created compacted (one partition, so its records
keep their order), written one record per change, read whole.

Contract: a record's key is the tenant id, its value the config JSON or none (deleted: the job's
settings again), its timestamp the time the change takes effect from (rounded up to the job's next
finest window boundary by the job). Nothing here checks a value: ``topk.tenant_config.check`` does,
before writing; the job checks again on reading.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import Producer
from kafka import KafkaConsumer, TopicPartition

from topk.stores.kafka_client import KafkaSettings, ensure_topic

COMPACTED = {"cleanup.policy": "compact"}


def ensure_config_topic(kafka: KafkaSettings) -> None:
    """Creates ``kafka.config_topic`` (compacted, one partition) unless it exists."""
    ensure_topic(kafka.client, kafka.config_topic, 1, COMPACTED)


def write(kafka: KafkaSettings, records: Iterable[tuple[bytes, bytes | None, int | None]]) -> None:
    """Writes records (key, value, timestamp ms or None for now) in order and waits for the broker's acks."""
    producer = Producer({**kafka.client.librdkafka(), "acks": "all", "enable.idempotence": True})
    failed: list[object] = []
    for key, value, at_ms in records:
        if at_ms is not None and at_ms < 1:  # librdkafka reads a timestamp of 0 as "now"
            raise ValueError(f"a config record's time must be after the epoch, got {at_ms}")
        producer.produce(
            kafka.config_topic,
            value,
            key,
            timestamp=int(time.time() * 1000) if at_ms is None else at_ms,
            on_delivery=lambda err, _msg: failed.append(err) if err else None,
        )
        producer.poll(0)
    if producer.flush(30) or failed:
        raise RuntimeError(f"config records not written to {kafka.config_topic}: {failed or 'timed out'}")


def read_all(kafka: KafkaSettings, timeout_s: float = 30) -> list[tuple[bytes, bytes | None, int]]:
    """Every record of the topic now, in order: (key, value, timestamp ms)."""
    # not created here: a broker that creates topics on first use would make it with its default partitions
    consumer = KafkaConsumer(**kafka.client.kafka_python(), enable_auto_commit=False, allow_auto_create_topics=False)
    try:
        partition = TopicPartition(kafka.config_topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        records, deadline = [], time.monotonic() + timeout_s
        while consumer.position(partition) < end and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                records += [(r.key, r.value, r.timestamp) for r in batch]
        return records
    finally:
        consumer.close()
