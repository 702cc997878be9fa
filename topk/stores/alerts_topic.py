"""The alerts topic (``topk.alerts``): created by the job before it starts, written by the job's
transactional Kafka sink, read here with ``read_committed`` (a record of a transaction a failed attempt
left open is never seen).

Contract: one partition (the job creates it so; a topic that exists is left as it is),
``cleanup.policy=compact,delete``: compaction keeps one record per key (a repeat of an alert), and
records older than ``RETENTION_MS`` go, so the topic holds at most that much time of alerts. A record
is ``topk.alerts.Alert.encode``'s; a record that does not decode as one is skipped and counted
(``AlertFeed.skipped``), never fatal to a reader.

``AlertFeed`` keeps, per tenant, the ``PER_TENANT`` alerts with the latest window ends it has read
(one per key), for at most ``MAX_TENANTS`` tenants (past that, the tenant whose latest alert is the
earliest goes): memory is bounded by their product, and one tenant's alerts never push out another's.
It reads every partition of the topic and never creates it. Its thread follows the topic from the
beginning (again after a failure, every few seconds); ``caught_up`` says whether it has read up to
the end offsets it saw when it first started.
"""

from __future__ import annotations

import threading

from kafka import KafkaConsumer, TopicPartition

from topk.alerts import Alert
from topk.stores.kafka_client import KafkaClient, KafkaSettings, ensure_topic

RETENTION_MS = 7 * 86_400_000
CONFIGS = {"cleanup.policy": "compact,delete", "retention.ms": str(RETENTION_MS)}
PER_TENANT = 200
MAX_TENANTS = 1000


def ensure_alerts_topic(kafka: KafkaSettings) -> None:
    """Creates ``kafka.alerts_topic`` (one partition, compacted and retained ``RETENTION_MS``) unless it exists."""
    ensure_topic(kafka.client, kafka.alerts_topic, 1, CONFIGS)


class AlertFeed:
    """The latest alerts per tenant, read from the alerts topic on a daemon thread."""

    def __init__(
        self, client: KafkaClient, topic: str, per_tenant: int = PER_TENANT, tenants: int = MAX_TENANTS
    ) -> None:
        self.client, self.topic, self.per_tenant, self.tenants = client, topic, per_tenant, tenants
        self.skipped = 0  # records that are not alerts of the format read
        self.caught_up = False
        self.error = ""  # the last failure to read, retried every few seconds
        self._by_tenant: dict[str, dict[bytes, Alert]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=f"alerts-{topic}", daemon=True)

    def start(self) -> AlertFeed:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def status(self) -> dict:
        return {"topic": self.topic, "caughtUp": self.caught_up, "skipped": self.skipped, "error": self.error or None}

    def latest(self, tenant: str, limit: int, window: str | None = None) -> list[Alert]:
        """``tenant``'s latest ``limit`` alerts (of ``window`` only, if given): latest window end first, then
        highest lower bound."""
        with self._lock:
            found = [a for a in self._by_tenant.get(tenant, {}).values() if window is None or a.window == window]
        return sorted(found, key=lambda a: (-a.window_end, -a.lower_bound, a.key))[:limit]

    def add(self, alert: Alert) -> None:
        """Keeps ``alert`` (once per key), dropping the tenant's alert with the earliest window end past
        ``per_tenant``, and past ``tenants`` tenants the tenant whose latest alert is the earliest."""
        with self._lock:
            kept = self._by_tenant.setdefault(alert.tenant, {})
            kept[alert.key] = alert
            if len(kept) > self.per_tenant:
                del kept[min(kept, key=lambda k: (kept[k].window_end, kept[k].key))]
            if len(self._by_tenant) > self.tenants:
                del self._by_tenant[
                    min(self._by_tenant, key=lambda t: max(a.window_end for a in self._by_tenant[t].values()))
                ]

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._read()
            except Exception as err:  # a reader that stopped would serve stale alerts silently
                self.error = f"{type(err).__name__}: {err}"
                self._stop.wait(5)

    def _read(self) -> None:
        consumer = KafkaConsumer(
            **self.client.kafka_python(),
            enable_auto_commit=False,
            isolation_level="read_committed",
            allow_auto_create_topics=False,
        )
        try:
            numbers = consumer.partitions_for_topic(self.topic)
            if not numbers:  # no job has created it yet: nothing to read
                self.caught_up, self.error = True, ""
                self._stop.wait(5)
                return
            partitions = [TopicPartition(self.topic, n) for n in sorted(numbers)]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            ends = consumer.end_offsets(partitions)
            while not self._stop.is_set():
                for batch in consumer.poll(timeout_ms=1000).values():
                    for record in batch:
                        self._take(record.key, record.value)
                self.caught_up = self.caught_up or all(consumer.position(p) >= ends[p] for p in partitions)
                self.error = ""
        finally:
            consumer.close()

    def _take(self, key: bytes | None, value: bytes | None) -> None:
        try:
            self.add(Alert.decode(key, value))
        except Exception:  # whatever a record holds, the ones after it are read
            self.skipped += 1
