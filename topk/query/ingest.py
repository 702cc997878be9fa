"""The API's write path: validate one raw event exactly as the job does, then produce those bytes.

``validate`` mirrors ``udfs/jvm/topk/udfs/ParseEvent.java`` (same rules, same reason codes, first
match wins), with the API's clock standing in for the Kafka timestamp, so an event the API
accepts is one the job counts, and a rejected one is answered with the reason the job would have
dead-lettered it for (where Python's parsers are more lenient than Jackson's, e.g. ``NaN`` or
ISO-8601 variants, the API is held to Jackson's rules; on trailing garbage after the JSON value
the API is the stricter). ``tests/test_ingest.py`` runs the job's own bad-record corpus through both.
Two limits the job has no need for protect the API and the broker: the body size and the number
of payload fields.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import KafkaError, KafkaException, Producer

from topk.events import EVENT_TIME_RANGE_MS, ITEM_FIELDS, TENANT_RULE, is_tenant
from topk.settings import EventSettings, setting
from topk.stores.kafka_client import KafkaClient

_DIGITS = re.compile(r"[0-9]{1,15}")
_POSITIVE = re.compile(r"[1-9][0-9]{0,17}")
# java.time's ISO_OFFSET_DATE_TIME (case-insensitive): what OffsetDateTime.parse accepts
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}(:\d{2})?)", re.IGNORECASE)
_LONG = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class EventLimits(EventSettings):
    """The job's limits (``EventSettings``, its flags of the same names) and the API's own."""

    max_event_bytes: int = setting(65_536, "a larger body is refused (413) before it is parsed")
    max_payload_fields: int = setting(64, "an event with more payload fields is refused (413)")


class Rejected(ValueError):
    """An event the job would dead-letter (``reason``: its reason code), or one over the API's limits."""

    def __init__(self, reason: str, detail: str, status: int = 422) -> None:
        super().__init__(detail)
        self.reason, self.status = reason, status


def validate(raw: bytes, now_ms: int, limits: EventLimits) -> dict:
    """The parsed event if the job would count it; ``Rejected`` with the job's reason otherwise."""
    if len(raw) > limits.max_event_bytes:
        raise Rejected("too_large", f"event of {len(raw)} bytes; at most {limits.max_event_bytes}", 413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("not_utf8", "the body is not UTF-8") from None
    try:
        root = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise Rejected("invalid_json", "the body is not JSON") from None
    if not isinstance(root, dict):
        raise Rejected("not_an_object", "the event must be a JSON object")
    metadata, payload = _object(root.get("metadata")), _object(root.get("payload"))
    tenant = metadata.get("tenantId")
    if tenant is not None and not is_tenant(tenant):
        raise Rejected("bad_tenant", f"metadata.tenantId: {TENANT_RULE}")
    if len(payload) > limits.max_payload_fields:
        raise Rejected("too_many_fields", f"{len(payload)} payload fields; at most {limits.max_payload_fields}", 413)
    event_type = _scalar(metadata.get("eventType"))
    field = ITEM_FIELDS.get("generic" if event_type is None else event_type)
    if field is None:
        raise Rejected("unknown_event_type", f"eventType {event_type!r}: one of {', '.join(ITEM_FIELDS)}")
    item = _scalar(payload.get(field))
    if not item:
        raise Rejected("missing_item", f"a {event_type or 'generic'} event needs payload.{field}")
    if len(item) > limits.max_item_length:
        raise Rejected("item_too_long", f"item of {len(item)} characters; at most {limits.max_item_length}")
    if _weight(payload.get("weight"), limits.max_weight) is None:
        raise Rejected("bad_weight", f"weight must be an integer in 1..{limits.max_weight}")
    if metadata.get("timestamp") is None:
        raise Rejected("missing_timestamp", "metadata.timestamp is required")
    event_ms = _epoch_ms(metadata["timestamp"])
    if event_ms is None:
        raise Rejected("bad_timestamp", "timestamp: epoch ms or ISO-8601 with an offset")
    lowest, highest = EVENT_TIME_RANGE_MS
    if not lowest <= event_ms < highest or event_ms < now_ms - limits.max_past_ms:
        raise Rejected("timestamp_out_of_range", "timestamp before 1970, after 9998 or too far behind (--max-past-ms)")
    if event_ms > now_ms + limits.max_future_ms:
        raise Rejected("too_far_ahead", f"timestamp more than {limits.max_future_ms} ms ahead of now (--max-future-ms)")
    return root


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _object(node: object) -> dict:
    return node if isinstance(node, dict) else {}


def _scalar(node: object) -> str | None:
    """Text of a string or number, as Jackson's ``asText`` gives it; None for anything else."""
    if isinstance(node, bool) or node is None:
        return None
    if isinstance(node, str):
        return node
    if isinstance(node, int):
        return str(node)
    if isinstance(node, float):
        return repr(node) if node == node and abs(node) != float("inf") else None
    return None


def _weight(node: object, maximum: int) -> int | None:
    if node is None:
        return 1
    w = None
    if isinstance(node, int) and not isinstance(node, bool) and _LONG[0] <= node <= _LONG[1]:
        w = node
    elif isinstance(node, str) and _POSITIVE.fullmatch(node):
        w = int(node)
    return w if w is not None and 1 <= w <= maximum else None


def _epoch_ms(node: object) -> int | None:
    if isinstance(node, int) and not isinstance(node, bool):
        return node if _LONG[0] <= node <= _LONG[1] else None
    if not isinstance(node, str):
        return None
    if _DIGITS.fullmatch(node):
        return int(node)
    if not _ISO.fullmatch(node):
        return None
    try:
        parsed = datetime.fromisoformat(node.upper().replace("Z", "+00:00"))
    except ValueError:  # e.g. month 13
        return None
    return int(parsed.timestamp() * 1000)


class Unavailable(RuntimeError):
    """The broker did not take the event (down, timed out, or refused it)."""


class EventProducer:
    """Sends validated events to the job's topic and waits for the broker's acknowledgement."""

    def __init__(self, kafka: KafkaClient, topic: str, timeout_s: float = 10.0) -> None:
        self.topic, self.timeout_s = topic, timeout_s
        config = {**kafka.librdkafka(), "acks": "all", "enable.idempotence": True, "linger.ms": 5}
        self._producer: Producer | None = Producer(config)

    def send(self, raw: bytes) -> None:
        outcome: list[KafkaError | None] = []
        if self._producer is None:
            raise Unavailable("not sent to Kafka: the API is shutting down")
        try:
            self._producer.produce(self.topic, raw, on_delivery=lambda err, _msg: outcome.append(err))
        except (BufferError, KafkaException) as err:
            raise Unavailable(f"not sent to Kafka: {err}") from None
        self._producer.flush(self.timeout_s)
        if not outcome:
            raise Unavailable(f"no acknowledgement from Kafka within {self.timeout_s} s")
        if outcome[0] is not None:
            if outcome[0].code() == KafkaError.MSG_SIZE_TOO_LARGE:
                raise Rejected("too_large", "the broker refused the event as too large", 413)
            raise Unavailable(f"not delivered to Kafka: {outcome[0].str()}")

    def close(self) -> None:
        """Waits up to the timeout for what is in flight, then drops the rest (every send that got no
        acknowledgement was already answered 503), so no client outlives its API."""
        if self._producer is None:
            return
        self._producer.flush(self.timeout_s)
        self._producer.purge()
        self._producer.flush(0)
        self._producer = None  # the last reference: librdkafka's client and its threads go now, not at exit
