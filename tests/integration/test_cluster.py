"""scripts/submit.sh against a real local standalone cluster: the job runs there, results reach
Redis, the job's metrics are on the Prometheus endpoint while it runs, and a backlog larger than
the TaskManager's direct memory is read without a failure.

The cluster's TaskManager is given 80 MB of direct memory (``FLINK_PROPERTIES``, which the
``submit`` fixture reads), so a backlog that exceeds it stays small enough for the suite."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from tests.integration.helpers import aligned_start, publish, scrape, stored_top, wait_for
from topk.generator.events import StreamSpec, encode, exact_counts, generate
from topk.generator.produce import ensure_topic, send
from topk.sketches.accuracy import ranked
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import window_key

pytestmark = pytest.mark.integration
MINUTE = 60_000
REST = "http://127.0.0.1:8081"  # conf/flink-conf.yaml: rest.port
FLINK_PROPERTIES = """taskmanager.memory.framework.off-heap.size: 32m
taskmanager.memory.task.off-heap.size: 16m
taskmanager.memory.network.min: 32m
taskmanager.memory.network.max: 32m
"""


def test_job_runs_on_a_standalone_cluster_with_metrics(submit, servers, run_id):
    topic, start = f"cluster_{run_id}", aligned_start(MINUTE, 10)
    spec = StreamSpec(3_000, 40, 1.1, start, 5 * MINUTE, seed=3)
    events = publish(servers.kafka, topic, spec, extra=(b"{not json",))

    done = submit(
        "run", "--topic", topic, "--dead-letter-topic", f"{topic}-dlq", "--group-id", run_id,
        "--bootstrap-servers", servers.bootstrap, "--redis-url", servers.redis_url,
        "--cassandra-port", str(servers.cassandra_port),
        "--cassandra-keyspace", f"c{run_id}", "--windows", "1m,all", "--dimensions", "region", "--k", "5",
        "--checkpoint-interval-ms", "2000",
    )  # fmt: skip
    job_id = re.search(r"JobID ([0-9a-f]{32})", done.stdout).group(1)
    try:
        assert job_id in submit("list").stdout
        r = redis_connect(servers.redis_url)
        first = exact_counts(iter(events), MINUTE)[start]
        key = window_key("1m", "all", "all", start)
        deadline = time.monotonic() + 240
        while not r.exists(key) and time.monotonic() < deadline:
            time.sleep(2)
        assert stored_top(r, key) == ranked(first, 5)

        assert scrape(r"topk_windowsEmitted\{.*\} [1-9]")
        assert scrape(r"topk_eventsCounted\{.*\} [1-9]")
        # the per-row time as Prometheus sees it (a PyFlink distribution would be exported as 0)
        assert scrape(r"topk_sketchUpdates\{.*\} [1-9]") and scrape(r"topk_sketchUpdateMicros\{.*\} [1-9]")
        assert scrape(r"deadLetters_invalid_json\{.*\} 1\.0")
    finally:
        submit("cancel", job_id, check=False)


def test_submit_fails_fast_on_bad_settings(submit, servers):
    bad_k = submit("run", "--bootstrap-servers", servers.bootstrap, "--k", "50", "--capacity", "10", check=False)
    assert bad_k.returncode == 2 and "k <= capacity" in bad_k.stderr
    no_broker = submit("run", "--bootstrap-servers", "127.0.0.1:1", check=False)
    assert no_broker.returncode == 2 and "no Kafka broker reachable at 127.0.0.1:1" in no_broker.stderr
    bad_window = submit("run", "--bootstrap-servers", servers.bootstrap, "--windows", "1m,7x", check=False)
    assert bad_window.returncode == 2 and "7x" in bad_window.stderr


def test_stop_with_savepoint_resume_and_replay_reproduce_the_results(submit, servers, run_id):
    spec = StreamSpec(6_000, 50, 1.1, aligned_start(MINUTE, 20), 10 * MINUTE, seed=9)
    events = list(generate(spec))
    first, second = events[: len(events) // 2], events[len(events) // 2 :]  # generate() is in event-time order
    topic, replayed = f"sp_{run_id}", f"rp_{run_id}"
    flags = (
        "--topic", topic, "--dead-letter-topic", f"{topic}-dlq", "--bootstrap-servers", servers.bootstrap,
        "--redis-url", servers.redis_url, "--cassandra-port", str(servers.cassandra_port),
        "--windows", "1m,all", "--dimensions", "region", "--k", "5",
        "--checkpoint-interval-ms", "2000",
    )  # fmt: skip
    ensure_topic(servers.kafka, topic, partitions=1)
    send(servers.kafka, topic, [encode(e) for e in first])
    r = redis_connect(servers.redis_url)
    minutes = exact_counts(iter(events), MINUTE)
    closed = sorted(minutes)[:-1]  # the last minute needs a later event to close

    live = ("--group-id", topic, "--redis-prefix", topic, "--cassandra-keyspace", topic)
    job = re.search(r"JobID ([0-9a-f]{32})", submit("run", *flags, *live).stdout).group(1)
    assert wait_for(lambda: r.exists(window_key("1m", "all", "all", closed[2], topic)))
    stopped = submit("stop", job).stdout
    savepoint = re.search(r"Savepoint completed\. Path: (\S+)", stopped).group(1)
    assert savepoint.startswith("s3://topk-checkpoints/savepoints/"), savepoint
    send(servers.kafka, topic, [encode(e) for e in second])
    job = re.search(r"JobID ([0-9a-f]{32})", submit("resume", savepoint, *flags, *live).stdout).group(1)
    try:
        assert wait_for(lambda: r.exists(window_key("1m", "all", "all", closed[-1], topic)))
    finally:
        submit("cancel", job, check=False)
    for m in closed:
        assert stored_top(r, window_key("1m", "all", "all", m, topic)) == ranked(minutes[m], 5), m
        meta = r.hgetall(window_key("1m", "all", "all", m, topic) + ":meta")
        assert int(meta["totalEvents"]) == sum(minutes[m].values()), m

    done = submit("replay", "--from", "earliest", "--into", replayed, *flags)
    job = re.search(r"JobID ([0-9a-f]{32})", done.stdout).group(1)
    try:
        assert wait_for(lambda: r.exists(window_key("1m", "all", "all", closed[-1], replayed)))
    finally:
        submit("cancel", job, check=False)
    for m in closed:
        for region in ("all", "eu-west", "us-east"):
            dim = "all" if region == "all" else "region"
            assert stored_top(r, window_key("1m", dim, region, m, replayed)) == stored_top(
                r, window_key("1m", dim, region, m, topic)
            ), (m, region)


def rest(path: str) -> dict:
    with urllib.request.urlopen(REST + path, timeout=10) as page:
        return json.loads(page.read())


def test_a_backlog_larger_than_the_taskmanagers_direct_memory_is_read_without_a_failure(submit, servers, run_id):
    (tm,) = rest("/taskmanagers")["taskmanagers"]
    direct = rest(f"/taskmanagers/{tm['id']}")["memoryConfiguration"]
    limit = direct["frameworkOffHeap"] + direct["taskOffHeap"] + direct["networkMemory"]
    topic, start = f"backlog_{run_id}", aligned_start(MINUTE, 30)
    spec = StreamSpec(600_000, 200_000, 1.1, start, 20 * MINUTE, seed=5)
    events = list(generate(spec))
    records = [encode(e) for e in events]
    assert sum(map(len, records)) > limit * 1.1, (sum(map(len, records)), limit)
    ensure_topic(servers.kafka, topic, partitions=1)
    send(servers.kafka, topic, records)

    done = submit(
        "run", "--bounded", "--topic", topic, "--dead-letter-topic", f"{topic}-dlq", "--group-id", run_id,
        "--bootstrap-servers", servers.bootstrap, "--redis-url", servers.redis_url, "--redis-prefix", run_id,
        "--cassandra-port", str(servers.cassandra_port), "--cassandra-keyspace", f"b{run_id}",
        "--windows", "1m,all", "--dimensions", "region", "--k", "5",
    )  # fmt: skip
    job_id = re.search(r"JobID ([0-9a-f]{32})", done.stdout).group(1)
    try:
        assert wait_for(lambda: rest(f"/jobs/{job_id}")["state"] in ("FINISHED", "FAILED", "CANCELED"), 600)
        assert rest(f"/jobs/{job_id}")["state"] == "FINISHED"
        assert rest(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"] == []  # no restart
    finally:
        submit("cancel", job_id, check=False)
    r = redis_connect(servers.redis_url)
    for minute, counts in exact_counts(iter(events), MINUTE).items():
        meta = r.hgetall(window_key("1m", "all", "all", minute, run_id) + ":meta")
        assert int(meta["totalEvents"]) == sum(counts.values()), minute
