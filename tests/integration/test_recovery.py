"""Nothing lost, nothing counted twice: a Python worker killed by PID mid-run (Flink restores the
last checkpoint), and late events (within allowed lateness: their window is emitted again; beyond
it: a dead letter). Every window in Redis must equal the exact counts."""

from __future__ import annotations

import time

import pytest
import redis

from connectors.redis_sink import window_key
from generator.events import StreamSpec, encode, exact_counts
from generator.produce import ensure_topic, send
from jobs.workers import python_workers
from sketches.accuracy import ranked
from tests.integration.helpers import aligned_start, publish, read_topic, stored_top, wait_for

pytestmark = pytest.mark.integration
MINUTE = 60_000
K = 10


def job_args(topic: str, *extra: str) -> tuple[str, ...]:
    return (
        "--topic", topic, "--dead-letter-topic", f"{topic}-dlq", "--group-id", topic, "--redis-prefix", topic,
        "--cassandra-keyspace", topic, "--windows", "1m,1h,all", "--dimensions", "region", "--k", str(K), *extra,
    )  # fmt: skip


def assert_every_minute_exact(r: redis.Redis, events: list[dict], topic: str, *regions: str) -> None:
    for dimension, value in [("all", "all"), *(("region", region) for region in regions)]:
        for minute_start, counts in exact_counts(iter(events), MINUTE, dimension, value).items():
            key = window_key("1m", dimension, value, minute_start, topic)
            assert stored_top(r, key) == ranked(counts, K), (value, minute_start)


def test_killing_the_python_worker_changes_no_result(servers, run_id, start_job, tmp_path):
    topic = f"fault_{run_id}"
    spec = StreamSpec(30_000, 200, 1.1, aligned_start(MINUTE, 40), 30 * MINUTE, seed=5)
    events = publish(servers.bootstrap, topic, spec)
    r = redis.Redis.from_url(servers.redis_url, decode_responses=True)
    minutes = exact_counts(iter(events), MINUTE)

    job = start_job("--bounded", *job_args(topic))
    emitted = 0

    def ready_to_kill() -> bool:
        nonlocal emitted
        emitted = sum(r.exists(window_key("1m", "all", "all", m, topic)) for m in minutes)
        return job.poll() is not None or (emitted >= 3 and any(tmp_path.glob("*/chk-*")) and python_workers(job.pid))

    assert wait_for(ready_to_kill) and job.poll() is None, "the job ended before a worker could be killed"
    killed = python_workers(job.pid)[0]
    killed.kill()
    assert emitted < len(minutes), "the kill came after the last window: nothing to recover"
    output, _ = job.communicate(timeout=600)
    assert job.returncode == 0, output[-3000:]
    assert not killed.is_running()

    assert_every_minute_exact(r, events, topic, "eu-west", "us-east", "ap-south")
    meta = r.hgetall(window_key("all", "all", "all", 0, topic) + ":meta")
    assert int(meta["totalEvents"]) == len(events)
    all_time = exact_counts(iter(events), 0)[0]
    assert stored_top(r, window_key("all", "all", "all", 0, topic))[:3] == ranked(all_time, 3)


def event(ts: int, item: str, region: str = "eu-west") -> dict:
    return {"metadata": {"eventType": "generic", "timestamp": ts}, "payload": {"itemId": item, "region": region}}


def test_late_events_update_their_window_or_become_dead_letters(servers, run_id, start_job):
    start = aligned_start(MINUTE, 30)
    on_time = [event(start + i * 1000, f"item-{i % 7}") for i in range(6 * 60)]  # minutes 0..5, one per second
    topic = f"late_{run_id}"
    ensure_topic(servers.bootstrap, topic, partitions=1)
    send(servers.bootstrap, topic, [encode(e) for e in on_time])
    r = redis.Redis.from_url(servers.redis_url, decode_responses=True)
    minute4 = window_key("1m", "all", "all", start + 4 * MINUTE, topic)

    job = start_job(*job_args(topic, "--out-of-orderness-ms", "1000", "--allowed-lateness-ms", str(3 * MINUTE)))
    assert wait_for(lambda: r.exists(minute4) or job.poll() is not None) and job.poll() is None, job.stdout.read()
    # The watermark is now past minute 4 (emitted) and at most 6 min - 1 s.
    allowed = event(start + 4 * MINUTE + 10_000, "late-but-allowed")  # < 2 min behind: minute 4 again
    too_late = event(start + 10_000, "too-late")  # > 5 min behind: a dead letter
    send(servers.bootstrap, topic, [encode(allowed), encode(too_late)])

    expected = exact_counts(iter([*on_time, allowed]), MINUTE)[start + 4 * MINUTE]
    assert wait_for(lambda: stored_top(r, minute4) == ranked(expected, K)), (
        stored_top(r, minute4),
        ranked(expected, K),
    )
    region = window_key("1m", "region", "eu-west", start + 4 * MINUTE, topic)
    assert dict(stored_top(r, region))["late-but-allowed"] == 1
    all_time = window_key("all", "all", "all", 0, topic) + ":meta"  # minutes 0-4 are closed, and the late event
    assert wait_for(lambda: int(r.hget(all_time, "totalEvents")) == 5 * 60 + 1)
    letters = read_topic(servers.bootstrap, f"{topic}-dlq", expected=1)
    assert [d["reason"] for d in letters] == ["late"]
    minute0 = window_key("1m", "all", "all", start, topic)
    assert "too-late" not in dict(stored_top(r, minute0))
    assert stored_top(r, minute0) == ranked(exact_counts(iter(on_time), MINUTE)[start], K)


def test_results_converge_after_redis_and_cassandra_outages(servers, run_id, start_job):
    topic = f"outage_{run_id}"
    spec = StreamSpec(20_000, 100, 1.1, aligned_start(MINUTE, 30), 20 * MINUTE, seed=8)
    events = publish(servers.bootstrap, topic, spec)
    job = start_job("--bounded", *job_args(topic))
    r = redis.Redis.from_url(servers.redis_url, decode_responses=True)
    first = window_key("1m", "all", "all", spec.start_ms, topic)
    assert wait_for(lambda: job.poll() is not None or r.exists(first)) and job.poll() is None, job.stdout.read()
    servers.ctl("stop", "redis", "cassandra")
    time.sleep(15)  # the job retries Redis, fails on Cassandra and restarts from its last checkpoint
    servers.ctl("start", "redis", "cassandra")
    output, _ = job.communicate(timeout=600)
    assert job.returncode == 0, output[-3000:]
    assert_every_minute_exact(redis.Redis.from_url(servers.redis_url, decode_responses=True), events, topic)
