"""The dead-letter topic: one JSON envelope per rejected record (see ``udfs.dead_letters``)."""

from __future__ import annotations

from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream.connectors import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink

from topk.stores.kafka_client import KafkaSettings


def dead_letter_sink(kafka: KafkaSettings) -> KafkaSink:
    serializer = (
        KafkaRecordSerializationSchema.builder()
        .set_topic(kafka.dead_letter_topic)
        .set_value_serialization_schema(SimpleStringSchema())
        .build()
    )
    builder = KafkaSink.builder().set_bootstrap_servers(kafka.bootstrap_servers)
    for key, value in kafka.client.java().items():  # the same security settings as the source
        builder.set_property(key, value)
    return builder.set_record_serializer(serializer).set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build()
