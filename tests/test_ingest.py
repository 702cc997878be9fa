"""The API's write path validates as the job does: the job's own bad-record corpus gets the same
reasons, and what the job accepts, the API accepts."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.bad_records import bad_records
from topk.query.ingest import EventLimits, Rejected, validate
from topk.times import iso

NOW = int(time.time() * 1000)
LIMITS = EventLimits()


@pytest.mark.parametrize(("raw", "reason"), list(bad_records(NOW).items()))
def test_rejects_what_the_job_dead_letters_with_the_same_reason(raw, reason):
    with pytest.raises(Rejected) as rejected:
        validate(raw, NOW, LIMITS)
    assert rejected.value.reason == reason and rejected.value.status == 422


@pytest.mark.parametrize(
    "event",
    [
        {"metadata": {"eventType": "search", "timestamp": NOW}, "payload": {"query": "flink"}},
        {"metadata": {"timestamp": str(NOW)}, "payload": {"itemId": 42, "weight": "5"}},
        {"metadata": {"timestamp": iso(NOW).replace("T", "t").replace("Z", "+00:00")}, "payload": {"itemId": "é"}},
        {"metadata": {"eventType": "page_view", "timestamp": NOW - 3_600_000}, "payload": {"url": "/", "weight": 3}},
    ],
)
def test_accepts_what_the_job_counts(event):
    assert validate(json.dumps(event).encode(), NOW, LIMITS) == event


def test_the_apis_own_limits_answer_413():
    huge = json.dumps({"metadata": {"timestamp": NOW}, "payload": {"itemId": "x" * 100_000}}).encode()
    fields = json.dumps({"metadata": {"timestamp": NOW}, "payload": {f"f{i}": i for i in range(65)}}).encode()
    for raw, reason in [(huge, "too_large"), (fields, "too_many_fields")]:
        with pytest.raises(Rejected) as rejected:
            validate(raw, NOW, LIMITS)
        assert (rejected.value.reason, rejected.value.status) == (reason, 413)
    deep = b"[" * 100_000 + b"]" * 100_000  # too deep for the parser: still a client mistake, not a crash
    with pytest.raises(Rejected):
        validate(deep, NOW, EventLimits(max_event_bytes=1 << 20))


CLOSE_AND_WAIT = """
import sys, time
from topk.query.ingest import EventProducer, Unavailable
from topk.stores.kafka_client import KafkaClient
producer = EventProducer(KafkaClient("127.0.0.1:1"), "events", timeout_s=1)  # no broker there
try:
    producer.send(b"{}")
except Unavailable:
    pass
producer.close()
print("closed", file=sys.stderr, flush=True)
time.sleep(3)
"""


def test_a_closed_producer_leaves_no_client_behind():
    """After ``close`` nothing of the producer runs: no retries of a broker that is gone, no message
    left to report at exit (the suite's output ends with its summary)."""
    done = subprocess.run([sys.executable, "-c", CLOSE_AND_WAIT], capture_output=True, text=True, timeout=60)
    assert "closed" in done.stderr, done.stderr
    assert "rdkafka" not in done.stderr.split("closed", 1)[1], done.stderr
