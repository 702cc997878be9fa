"""The job's Kafka sinks, with the source's security settings.

* ``dead_letter_sink``: one JSON envelope per rejected record (``udfs.dead_letters``), at least once.
* ``alerts_sink``: the alerts topic (``topk.alerts``, ``topk.stores.alerts_topic``): the ``ALERT_ROW``s
  ``alert_rows`` takes from the results, written in Kafka transactions that commit with the job's
  checkpoints, so a record reaches ``read_committed`` readers once, whatever the job restarts from. A
  transaction stays open until the next checkpoint completes; its timeout is ``TRANSACTION_TIMEOUT_MS``,
  the brokers' default cap (``transaction.max.timeout.ms``), unless the properties file sets one. A
  transaction a failed attempt leaves open is aborted when the job restarts (the same
  ``transactional.id`` prefix, from the consumer group), or at its timeout: if no checkpoint completes
  for that long, the broker aborts the pending alerts and they are lost (docs/data-alerts.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from pyflink.common import Row, Types
from pyflink.common.serialization import SerializationSchema, SimpleStringSchema
from pyflink.datastream.connectors import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink, KafkaSinkBuilder
from pyflink.java_gateway import get_gateway

from topk.stores.kafka_client import KafkaSettings
from topk.window_result import WindowResult

ALERT_ROW = Types.ROW_NAMED(["key", "value"], [Types.STRING(), Types.STRING()])
TRANSACTION_TIMEOUT_MS = 900_000


def alert_rows(result: WindowResult) -> Iterator[Row]:
    """A result's alert records, as the rows ``alerts_sink`` writes (a flat_map chained to the writers: only
    alerts cross from Python to the JVM)."""
    for key, value in result.alerts:
        yield Row(key, value)


def dead_letter_sink(kafka: KafkaSettings) -> KafkaSink:
    serializer = (
        KafkaRecordSerializationSchema.builder()
        .set_topic(kafka.dead_letter_topic)
        .set_value_serialization_schema(SimpleStringSchema())
        .build()
    )
    builder = _builder(kafka).set_record_serializer(serializer)
    return builder.set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build()


def alerts_sink(kafka: KafkaSettings, transactional_id_prefix: str) -> KafkaSink:
    """For a stream of ``ALERT_ROW``: the record's key and its value."""
    jvm = get_gateway().jvm
    serializer = (
        KafkaRecordSerializationSchema.builder()
        .set_topic(kafka.alerts_topic)
        .set_key_serialization_schema(SerializationSchema(jvm.topk.udfs.RowField(0)))
        .set_value_serialization_schema(SerializationSchema(jvm.topk.udfs.RowField(1)))
        .build()
    )
    builder = _builder(kafka)
    if "transaction.timeout.ms" not in kafka.client.java():  # a broker with a lower transaction.max.timeout.ms
        builder.set_property("transaction.timeout.ms", str(TRANSACTION_TIMEOUT_MS))
    builder.set_record_serializer(serializer).set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
    return builder.set_transactional_id_prefix(transactional_id_prefix).build()


def _builder(kafka: KafkaSettings) -> KafkaSinkBuilder:
    builder = KafkaSink.builder().set_bootstrap_servers(kafka.bootstrap_servers)
    for key, value in kafka.client.java().items():  # the same security settings as the source
        builder.set_property(key, value)
    return builder
