"""Produce a synthetic Zipf event stream to Kafka.

topk-produce --bootstrap-servers 127.0.0.1:9092 --topic events --events 200000 --skew 1.1
             [--kafka-properties client.properties]   (a secured cluster: topk.stores.kafka_client)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable

from confluent_kafka import KafkaException, Producer

from topk.generator.events import StreamSpec, encode, generate
from topk.settings import add_settings, settings_of
from topk.stores.kafka_client import KafkaClient, KafkaSettings, ensure_topic


def producer(kafka: KafkaClient) -> Producer:
    """A librdkafka producer that waits for all in-sync replicas."""
    return Producer({**kafka.librdkafka(), "acks": "all", "linger.ms": 20, "batch.size": 1 << 20})


def send(kafka: KafkaClient, topic: str, records: Iterable[bytes], rate: float = 0.0) -> int:
    """Send records (optionally at ``rate`` records/s); returns how many were sent, after all
    are acknowledged. Raises ``KafkaException`` if any was not delivered."""
    out, failed = producer(kafka), []

    def delivered(err: object, _message: object) -> None:
        if err is not None:
            failed.append(err)

    started, sent = time.monotonic(), 0
    for sent, record in enumerate(records, 1):
        while True:
            try:
                out.produce(topic, record, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: wait for deliveries
                out.poll(0.1)
        out.poll(0)
        if rate and sent % 1000 == 0:
            time.sleep(max(0.0, sent / rate - (time.monotonic() - started)))
    out.flush()
    if failed:
        raise KafkaException(failed[0])
    return sent


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(p, KafkaSettings, only=("bootstrap_servers", "kafka_properties", "topic"))
    p.add_argument("--partitions", type=int, default=2, help="of the topic, when it is created")
    add_settings(p, StreamSpec, start_ms=None)  # default: the span before now
    p.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    a = p.parse_args(argv)
    if a.start_ms is None:
        a.start_ms = int(time.time() * 1000) - a.span_ms
    spec, kafka = settings_of(StreamSpec, a, p), settings_of(KafkaSettings, a, p)
    ensure_topic(kafka.client, kafka.topic, a.partitions)
    n = send(kafka.client, kafka.topic, (encode(e) for e in generate(spec)), a.rate)
    print(f"produced {n} events to {kafka.topic} (event time {spec.start_ms} .. {spec.start_ms + spec.span_ms})")


if __name__ == "__main__":
    main()
