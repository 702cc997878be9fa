"""Helpers for the integration tests: processes by PID, stored and exact top-K, topic reads."""

from __future__ import annotations

import contextlib
import heapq
import json
import re
import socket
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator

import psutil
import redis
import uvicorn
from confluent_kafka import Producer
from kafka import KafkaConsumer

from bench.workers import python_workers
from topk.generator.events import StreamSpec, encode, event_time_ms, exact_counts, generate
from topk.generator.produce import send
from topk.query.engine import TopKQueries
from topk.sketches.accuracy import ranked
from topk.stores.cassandra_connection import CassandraConnection
from topk.stores.cassandra_store import CassandraStore
from topk.stores.kafka_client import KafkaClient, ensure_topic
from topk.stores.redis_store import connect as redis_connect
from topk.windows import parse_windows

# The stream the query side's tests read (conftest's ``stored``): capacity 64, so its answers are approximate
K, CAPACITY = 8, 64  # the stream's 8th and 9th items are far apart (ranks 2 and 3 of each event type)
WINDOWS = parse_windows("1m,1h,all")
# a second tenant in the same topic: low skew over 40 items, so its sketches are exact
TENANT = "acme"


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (the job's JVM and Python workers)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for p in [*root.children(recursive=True), root]:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()


PROCESS_WORKERS = {"_python_worker_execution_mode": "process"}  # each Python worker a process: the SDK harness


def python_worker_pids(pid: int) -> set[int]:
    """The Python worker processes among ``pid``'s descendants (``bench.workers.python_workers``)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return {p.pid for p in python_workers(pid)}
    return set()


def kill_python_worker(job) -> set[int]:
    """SIGKILLs one Python worker of ``job`` (a local job started with its workers as processes,
    ``PROCESS_WORKERS``: by default PyFlink runs a local job's worker inside the launcher, and the process
    it starts for it only waits); the worker pids before. Flink notices the death at the worker's next
    bundle: send it more input, then ``assert_restarted``."""
    before = python_worker_pids(job.pid)
    assert before, "no Python worker process: start the job with PROCESS_WORKERS"
    psutil.Process(min(before)).kill()
    return before


def assert_restarted(job, before: set[int], timeout_s: float = 180) -> None:
    """``job`` runs a Python worker that is none of ``before``: its task failed and restarted."""
    restarted = wait_for(lambda: job.poll() is not None or bool(python_worker_pids(job.pid) - before), timeout_s)
    assert restarted and job.poll() is None, "the job did not restart its Python worker"


def stored_top(r: redis.Redis, key: str) -> list[tuple[str, int]]:
    """A stored window's items, ranked like exact counts (``topk.sketches.accuracy.ranked``)."""
    return ranked({i: int(c) for i, c in r.zrevrange(key, 0, -1, withscores=True)})


def read_topic(kafka: KafkaClient, topic: str, expected: int, timeout_s: float = 60) -> list[dict]:
    """JSON records of ``topic``: waits for ``expected`` of them, then 2 s more for any extra."""
    return [json.loads(value) for _, value in committed(kafka, topic, expected, timeout_s, grace_s=2)]


def committed(
    kafka: KafkaClient, topic: str, expected: int, timeout_s: float = 120, grace_s: float = 5
) -> list[tuple[bytes, bytes]]:
    """The committed records (key, value) of ``topic`` (``read_committed``: a topic written without
    transactions reads whole): waits for ``expected`` of them, then ``grace_s`` more for any extra (5 s:
    several checkpoints' transactions)."""
    consumer = KafkaConsumer(
        topic, **kafka.kafka_python(), auto_offset_reset="earliest", isolation_level="read_committed"
    )
    records: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records += [(m.key, m.value) for m in batch]
        if len(records) >= expected:
            deadline = min(deadline, time.monotonic() + grace_s)
    consumer.close()
    return records


FLINK_REST = "http://127.0.0.1:8081"  # conf/flink-conf.yaml: rest.port


def flink_rest(path: str) -> dict:
    """The standalone cluster's REST answer at ``path`` (e.g. ``/jobs/overview``)."""
    with urllib.request.urlopen(FLINK_REST + path, timeout=10) as page:
        return json.loads(page.read())


def aligned_start(unit_ms: int, units_ago: int) -> int:
    """The start of the ``unit_ms`` period ``units_ago`` periods before the current one."""
    now = int(time.time() * 1000)
    return now - now % unit_ms - units_ago * unit_ms


def publish(
    kafka: KafkaClient,
    topic: str,
    spec: StreamSpec,
    extra: tuple[bytes, ...] = (),
    partitions: int = 1,
    also: list[dict] = (),
) -> list[dict]:
    """Generates ``spec``'s events, sends them (interleaved in event time with ``also``, then
    ``extra``) to a new topic; returns ``spec``'s events."""
    events = list(generate(spec))
    ensure_topic(kafka, topic, partitions)
    send(kafka, topic, [encode(e) for e in heapq.merge(events, also, key=event_time_ms)] + list(extra))
    return events


def produce(
    kafka: KafkaClient, topic: str, records: list[tuple[bytes, int | None, int | None]], max_bytes: int = 1 << 20
) -> None:
    """Sends ``(value, Kafka timestamp ms or None: now, partition or None: any)`` records in order and
    waits for every acknowledgement (records up to ``max_bytes``, where the topic allows them)."""
    out = Producer({**kafka.librdkafka(), "acks": "all", "linger.ms": 20, "message.max.bytes": max(max_bytes, 1 << 20)})
    failed = []
    for value, timestamp, partition in records:
        options = {"timestamp": timestamp} if timestamp is not None else {}
        if partition is not None:
            options["partition"] = partition
        while True:
            try:
                out.produce(topic, value, on_delivery=lambda err, _m: err and failed.append(err), **options)
                break
            except BufferError:
                out.poll(0.1)
        out.poll(0)
    out.flush()
    assert not failed, failed[:3]


def wait_for(condition, timeout_s: float = 240) -> bool:
    """Polls ``condition`` until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def counts_between(events: list[dict], lo: int, hi: int, dimension: str = "all", value: str = "all") -> Counter:
    """Exact item counts of the events with event time in [lo, hi)."""
    inside = (e for e in events if lo <= event_time_ms(e) < hi)
    return exact_counts(inside, 0, dimension, value).get(0, Counter())


def open_queries(servers, name: str, windows=WINDOWS, cassandra_port: int | None = None, **kwargs) -> TopKQueries:
    """The query side over keyspace and Redis prefix ``name`` (nothing connects until asked)."""
    store = CassandraStore(CassandraConnection(port=cassandra_port or servers.cassandra_port), name, windows)
    return TopKQueries(
        redis_connect(servers.redis_url),
        redis_connect(servers.redis_url, decode_responses=False),
        store,
        list(windows),
        name,
        **kwargs,
    )


PROMETHEUS_PORTS = range(9249, 9260)  # conf/flink-conf.yaml: metrics.reporter.prom.port


def scrape(pattern: str, timeout_s: float = 120) -> list[str]:
    """Lines of the cluster's Prometheus endpoints that match ``pattern``, once any do."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = []
        for port in PROMETHEUS_PORTS:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
                    lines += page.read().decode().splitlines()
            except OSError:
                continue
        found = [line for line in lines if re.search(pattern, line) and not line.startswith("#")]
        if found:
            return found
        time.sleep(2)
    return []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """``app`` (the API) on a real port of 127.0.0.1, in a thread of this process; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
