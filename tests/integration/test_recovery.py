"""Nothing lost, nothing counted twice: a Python worker killed by PID mid-run (Flink restores the
last checkpoint; a planted burst's alerts reach the alerts topic once each), and late events
(within allowed lateness: their window is emitted again; beyond it: a dead letter). Every window in
Redis must equal the exact counts."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import redis

from tests.integration.helpers import (
    PROCESS_WORKERS,
    aligned_start,
    assert_restarted,
    committed,
    kill_python_worker,
    read_topic,
    stored_top,
    wait_for,
)
from topk.alerts import Alert
from topk.generator.events import DIMENSION_VALUES, StreamSpec, encode, event_time_ms, exact_counts, generate
from topk.generator.produce import send
from topk.sketches.accuracy import ranked
from topk.stores.alerts_topic import AlertFeed
from topk.stores.kafka_client import ensure_topic
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import window_key

pytestmark = pytest.mark.integration
MINUTE = 60_000
K = 10


def job_args(topic: str, *extra: str) -> tuple[str, ...]:
    # one sized window: all-time takes in every closed minute (with 1m,1h it would wait for the hour)
    return (
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--group-id",
        topic,
        "--redis-prefix",
        topic,
        "--cassandra-keyspace",
        topic,
        "--windows",
        "1m,all",
        "--dimensions",
        "region",
        "--k",
        str(K),
        *extra,
    )


def assert_every_minute_exact(r: redis.Redis, events: list[dict], topic: str, *regions: str) -> None:
    """Every closed minute (all but the last, which no later event closes) equals the exact counts,
    once all of them are written."""
    expected = {}
    last = max(exact_counts(iter(events), MINUTE))
    for dimension, value in [("all", "all"), *(("region", region) for region in regions)]:
        for minute_start, counts in exact_counts(iter(events), MINUTE, dimension, value).items():
            if minute_start < last:
                expected[window_key("1m", dimension, value, minute_start, topic)] = ranked(counts, K)
    assert wait_for(lambda: all(r.exists(key) for key in expected), timeout_s=60)
    for key, top in expected.items():
        assert stored_top(r, key) == top, key


def in_two_parts(
    servers,
    run_id: str,
    spec: StreamSpec,
    start_job,
    between,
    events: list[dict] | None = None,
    *extra: str,
    env: dict[str, str] | None = None,
) -> tuple[list[dict], redis.Redis]:
    """Sends the first third of ``spec``'s events (or ``events``, in event-time order), starts the job
    (unbounded; ``extra`` flags, ``env`` added to its environment), waits until it has emitted 3 minute
    windows and completed a checkpoint (on S3), calls ``between(job)``, sends the rest and waits until the
    last closed minute is written. Returns the events and a Redis client."""
    topic = f"two_parts_{run_id}"
    events = list(generate(spec)) if events is None else events
    cut = len(events) // 3  # generate() is in event-time order
    ensure_topic(servers.kafka, topic, 1)  # a partition that got none of the first part would hold the watermark
    send(servers.kafka, topic, [encode(e) for e in events[:cut]])
    job = start_job(*job_args(topic, *extra), env=env)
    r = redis_connect(servers.redis_url)
    minutes = sorted(exact_counts(iter(events), MINUTE))

    def emitted(upto: int) -> bool:
        return all(r.exists(window_key("1m", "all", "all", m, topic)) for m in minutes[:upto])

    started = wait_for(lambda: job.poll() is not None or (emitted(3) and servers.checkpoints(run_id)))
    assert started, f"emitted 3: {emitted(3)}, checkpoints: {servers.checkpoints(run_id)}"
    assert job.poll() is None, job.stdout.read()[-3000:]
    between(job)
    send(servers.kafka, topic, [encode(e) for e in events[cut:]])
    done = wait_for(lambda: job.poll() is not None or emitted(len(minutes) - 1), timeout_s=400)
    missing = [i for i, m in enumerate(minutes) if not r.exists(window_key("1m", "all", "all", m, topic))]
    assert done, f"minutes not written (of {len(minutes)}): {missing}"
    assert job.poll() is None, job.stdout.read()[-3000:]
    return events, r


def planted(events: list[dict], minute: int, share: float, region: str | None = None) -> list[dict]:
    """``events`` with ``share`` of those in the minute ``minute`` (of ``region`` only, if given) made
    events of one item, ``burst``."""
    start = min(event_time_ms(e) for e in events)
    first = start - start % MINUTE + minute * MINUTE
    chosen = [i for i, e in enumerate(events) if first <= event_time_ms(e) < first + MINUTE]
    chosen = [i for i in chosen if region in (None, events[i]["payload"]["region"])]
    out = list(events)
    for i in chosen[:: round(1 / share)]:
        out[i] = {
            "metadata": {**events[i]["metadata"], "eventType": "generic"},
            "payload": {**events[i]["payload"], "itemId": "burst"},
        }
        out[i]["payload"] = {k: v for k, v in out[i]["payload"].items() if k not in ("url", "productId", "query")}
    return out


def test_killing_the_python_worker_changes_no_result_and_alerts_each_crossing_once(servers, run_id, start_job):
    """Checkpoints go to S3 (Flink's S3 plugin, the local S3 server): the job restores from there. The
    alerts written before the kill but after the last checkpoint are in an aborted transaction: the
    restarted job writes them again, and a read_committed reader sees each crossing once."""
    spec = StreamSpec(30_000, 200, 1.1, aligned_start(MINUTE, 40), 30 * MINUTE, seed=5, shape="turnover")
    events = planted(planted(list(generate(spec)), 4, 0.5), 20, 0.5, region="eu-west")  # before and after the kill
    killed, alerts_topic, phi = [], f"alerts_{run_id}", 0.3

    def kill_a_worker(job) -> None:
        killed.append((job, kill_python_worker(job)))

    flags = ("--alert-phi", str(phi), "--alerts-topic", alerts_topic)
    events, r = in_two_parts(servers, run_id, spec, start_job, kill_a_worker, events, *flags, env=PROCESS_WORKERS)
    topic = f"two_parts_{run_id}"
    assert_restarted(*killed[0])
    assert_every_minute_exact(r, events, topic, "eu-west", "us-east", "ap-south")

    # each minute's sketch is exact here (fewer items than counters): a crossing is an exact count above phi
    last = max(exact_counts(iter(events), MINUTE))
    crossings = Counter()
    for dimension, value in [("all", "all"), *(("region", v) for v in DIMENSION_VALUES["region"])]:
        for start, counts in exact_counts(iter(events), MINUTE, dimension, value).items():
            total = sum(counts.values())
            crossings |= Counter((start, dimension, value, x) for x, c in counts.items() if c > phi * total)
    expected = Counter({c: 1 for c in crossings if c[0] < last})
    bursts = sorted({s for s, _, _, x in expected if x == "burst"})
    assert len(bursts) == 2 and (bursts[1], "region", "eu-west", "burst") in expected, bursts
    records = committed(servers.kafka, alerts_topic, sum(expected.values()))
    alerts = [Alert.decode(k, v) for k, v in records]
    assert Counter((a.window_start, a.dimension, a.value, a.item) for a in alerts) == expected
    assert all(a.window == "1m" and a.lower_bound == a.upper_bound > phi * a.total_events for a in alerts)

    feed = AlertFeed(servers.kafka, alerts_topic).start()  # what the API lists
    try:
        assert wait_for(lambda: feed.caught_up, 60), feed.error
        assert sorted(feed.latest("default", 1000), key=lambda a: a.key) == sorted(alerts, key=lambda a: a.key)
    finally:
        feed.close()
    last = max(exact_counts(iter(events), MINUTE))
    before_last = [e for e in events if event_time_ms(e) < last]
    meta = r.hgetall(window_key("all", "all", "all", 0, topic) + ":meta")
    assert int(meta["totalEvents"]) == len(before_last)  # the all-time view as of the last closed minute
    all_time = exact_counts(iter(before_last), 0)[0]
    assert stored_top(r, window_key("all", "all", "all", 0, topic))[:3] == ranked(all_time, 3)


def event(ts: int, item: str, region: str = "eu-west") -> dict:
    return {"metadata": {"eventType": "generic", "timestamp": ts}, "payload": {"itemId": item, "region": region}}


def test_late_events_update_their_window_or_become_dead_letters(servers, run_id, start_job):
    """Also the alerts of a window emitted again: only its new crossings (an item a late event lifts above
    phi), none of those it alerted already."""
    start = aligned_start(MINUTE, 30)
    on_time = [event(start + i * 1000, f"item-{i % 7}") for i in range(6 * 60)]  # minutes 0..5, one per second
    topic, alerts_topic, phi = f"late_{run_id}", f"late_alerts_{run_id}", 0.14  # 9 of 60 events cross, 8 do not
    ensure_topic(servers.kafka, topic, partitions=1)
    send(servers.kafka, topic, [encode(e) for e in on_time])
    r = redis_connect(servers.redis_url)
    minute4 = window_key("1m", "all", "all", start + 4 * MINUTE, topic)

    lateness = ("--out-of-orderness-ms", "1000", "--allowed-lateness-ms", str(3 * MINUTE))
    job = start_job(*job_args(topic, *lateness, "--alert-phi", str(phi), "--alerts-topic", alerts_topic))
    assert wait_for(lambda: r.exists(minute4) or job.poll() is not None) and job.poll() is None, job.stdout.read()
    # The watermark is now past minute 4 (emitted) and at most 6 min - 1 s.
    allowed = event(start + 4 * MINUTE + 10_000, "late-but-allowed")  # < 2 min behind: minute 4 again
    eights = sorted(x for x, c in exact_counts(iter(on_time), MINUTE)[start + 4 * MINUTE].items() if c == 8)
    lifted = event(start + 4 * MINUTE + 20_000, eights[0])  # 9 of 62: above phi now
    too_late = event(start + 10_000, "too-late")  # > 5 min behind: a dead letter
    send(servers.kafka, topic, [encode(allowed), encode(lifted), encode(too_late)])

    expected = exact_counts(iter([*on_time, allowed, lifted]), MINUTE)[start + 4 * MINUTE]
    assert wait_for(lambda: stored_top(r, minute4) == ranked(expected, K)), (
        stored_top(r, minute4),
        ranked(expected, K),
    )
    region = window_key("1m", "region", "eu-west", start + 4 * MINUTE, topic)
    assert dict(stored_top(r, region))["late-but-allowed"] == 1
    all_time = window_key("all", "all", "all", 0, topic) + ":meta"  # minutes 0-4 are closed, and the late events
    assert wait_for(lambda: int(r.hget(all_time, "totalEvents")) == 5 * 60 + 2)
    letters = read_topic(servers.kafka, f"{topic}-dlq", expected=1)
    assert [d["reason"] for d in letters] == ["late"]
    minute0 = window_key("1m", "all", "all", start, topic)
    assert "too-late" not in dict(stored_top(r, minute0))
    assert stored_top(r, minute0) == ranked(exact_counts(iter(on_time), MINUTE)[start], K)

    closed = exact_counts(iter([*on_time, allowed, lifted]), MINUTE)
    crossings = Counter(
        (m, group, x)
        for m in range(start, start + 5 * MINUTE, MINUTE)
        for group in ("all", "region")
        for x, c in closed[m].items()
        if c > phi * sum(closed[m].values())
    )
    assert (start + 4 * MINUTE, "all", eights[0]) in crossings
    alerts = [Alert.decode(k, v) for k, v in committed(servers.kafka, alerts_topic, len(crossings))]
    assert Counter((a.window_start, a.dimension, a.item) for a in alerts) == crossings


def test_results_converge_after_redis_and_cassandra_outages(servers, run_id, start_job):
    spec = StreamSpec(20_000, 100, 1.1, aligned_start(MINUTE, 30), 20 * MINUTE, seed=8)

    def outage(job) -> None:
        servers.ctl("stop", "redis", "cassandra")
        time.sleep(15)  # the job retries Redis, fails on Cassandra and restarts from its last checkpoint
        servers.ctl("start", "redis", "cassandra")

    events, _ = in_two_parts(servers, run_id, spec, start_job, outage)
    r = redis_connect(servers.redis_url)
    assert_every_minute_exact(r, events, f"two_parts_{run_id}")
