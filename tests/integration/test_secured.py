"""Secured stores end to end: Kafka over SASL_SSL (SCRAM), Redis and Cassandra with passwords over
TLS; no secret on any command line; a wrong secret fails fast naming the store; Redis Cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from redis.crc import key_slot

from tests.integration.conftest import SECRETS
from tests.integration.helpers import aligned_start, publish, stored_top
from topk.generator.events import StreamSpec, exact_counts
from topk.sketches import HeavyHittersSketch
from topk.sketches.accuracy import ranked
from topk.stores.cassandra_connection import CassandraConnection
from topk.stores.cassandra_store import CassandraStore
from topk.stores.kafka_client import kafka_client
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import index_key, read_topk, summaries, window_key, write_result, written
from topk.window_result import WindowResult
from topk.windows import parse_windows

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MINUTE = 60_000


def secured_flags(servers, run_id: str) -> list[str]:
    return [
        "--bootstrap-servers",
        servers.secure_bootstrap,
        "--kafka-properties",
        servers.secure_kafka_properties,
        "--redis-url",
        servers.redis_tls_url,
        "--cassandra-port",
        str(servers.cassandra_port),
        "--cassandra-tls-ca-file",
        servers.tls_ca,
        "--cassandra-keyspace",
        f"sec_{run_id}",
    ]


def command_lines_with_secrets() -> list[str]:
    """Command lines of this machine's processes that hold any of the test secrets."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        line = " ".join(p.info["cmdline"] or [])
        if any(s in line for name, s in SECRETS.items() if name.endswith("PASSWORD")):
            found.append(line[:200])
    return found


def test_a_secured_deployment_runs_end_to_end_with_no_secret_on_a_command_line(servers, run_id):
    kafka = kafka_client(servers.secure_bootstrap, servers.secure_kafka_properties)
    topic, start = f"secured_{run_id}", aligned_start(MINUTE, 8)
    events = publish(kafka, topic, StreamSpec(4_000, 60, 1.1, start, 4 * MINUTE, seed=21))
    flags = [
        *secured_flags(servers, run_id),
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--group-id",
        run_id,
        "--windows",
        "1m,all",
        "--dimensions",
        "region",
        "--k",
        "5",
        "--checkpoint-dir",
        f"file://{servers.state}/ck-{run_id}",
    ]
    job = subprocess.Popen(
        [sys.executable, "-m", "jobs.topk_job", "--bounded", *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    leaked, deadline = [], time.monotonic() + 600
    while job.poll() is None and time.monotonic() < deadline:
        leaked += command_lines_with_secrets()
        time.sleep(1)
    output = job.communicate(timeout=60)[0]
    assert job.returncode == 0, output[-3000:]
    assert leaked == []

    r = redis_connect(servers.redis_tls_url)
    minutes = exact_counts(iter(events), MINUTE)
    for m in sorted(minutes)[:-1]:
        assert stored_top(r, window_key("1m", "all", "all", m)) == ranked(minutes[m], 5), m
    store = CassandraStore(
        CassandraConnection(port=servers.cassandra_port, tls_ca_file=servers.tls_ca),
        f"sec_{run_id}",
        parse_windows("1m,all"),
    )
    try:
        first = min(minutes)
        stored = store.summaries([(parse_windows("1m")[0], first)], "all", "all")
        assert HeavyHittersSketch.deserialize(stored["1m", first].summary).total_weight == sum(minutes[first].values())
    finally:
        store.close()


@pytest.mark.parametrize(
    ("secret", "store"),
    [("TOPK_KAFKA_PASSWORD", "Kafka"), ("TOPK_REDIS_PASSWORD", "Redis"), ("TOPK_CASSANDRA_PASSWORD", "Cassandra")],
)
def test_a_wrong_secret_fails_fast_naming_the_store(servers, run_id, secret, store):
    env = {**os.environ, secret: "not-the-secret"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "jobs.settings_check", *secured_flags(servers, run_id)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert f"{store} at " in done.stderr and "refused" in done.stderr, done.stderr
    assert time.monotonic() - started < 60


def test_redis_cluster_takes_a_window_in_one_transaction_and_answers_ranges(servers, run_id):
    r = redis_connect(servers.redis_cluster_url)
    windows = {w.label: w for w in parse_windows("1m,1h,all")}
    start = aligned_start(MINUTE, 3)
    sketch = HeavyHittersSketch(capacity=16, cms_width=64, cms_depth=3)
    for item, weight in [("a", 5), ("b", 3), ("c", 1)]:
        sketch.update(item, weight)
    result = WindowResult.of(
        sketch, window="1m", dimension="region", value=f"eu}}{run_id}", start=start, end=start + MINUTE, k=2
    )
    write_result(r, result, windows["1m"], prefix=run_id)

    key = window_key("1m", "region", f"eu}}{run_id}", start, run_id)
    tag = {key_slot(k.encode()) for k in (key, f"{key}:meta", f"{key}:bounds", f"{key}:summary")}
    assert tag == {key_slot(index_key("1m", "region", f"eu}}{run_id}", run_id).encode())}
    assert r.zrevrange(key, 0, -1, withscores=True) == [("a", 5.0), ("b", 3.0)]  # the documented read
    top = read_topk(r, "1m", "region", f"eu}}{run_id}", start, 2, run_id)
    assert [(i.item, i.estimate) for i in top.items] == [("a", 5), ("b", 3)]
    found = written(r, ["1m", "1h"], "region", f"eu}}{run_id}", start - MINUTE, start + MINUTE, run_id)
    assert found == {"1m": [start], "1h": []}
    binary = redis_connect(servers.redis_cluster_url, decode_responses=False)
    all_time = replace(result, window="all", window_start=0)  # its end: the last window it took in
    write_result(binary, all_time, windows["all"], prefix=run_id)
    blobs = summaries(binary, [("1m", start), ("1h", start), ("all", 0)], "region", f"eu}}{run_id}", run_id)
    assert blobs[0] == blobs[2] == result.summary and blobs[1] is None  # views on (most likely) other nodes
