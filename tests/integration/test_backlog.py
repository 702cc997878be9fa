"""A backlog larger than the TaskManager's direct memory is read without a failure (scripts/submit.sh
on a standalone cluster of this module's own).

The TaskManager is given 88 MB of direct memory (``FLINK_PROPERTIES``, which the ``submit`` fixture
reads), so a backlog that exceeds it stays small enough for the suite. The cluster runs this job only:
a TaskManager keeps some direct memory from the jobs it ran before (the Python workers' channels), so
with such a limit, earlier jobs would decide whether this one fits, not the source's fetches it tests."""

from __future__ import annotations

import re

import pytest

from tests.integration.helpers import aligned_start, wait_for
from tests.integration.helpers import flink_rest as rest
from topk.generator.events import StreamSpec, encode, exact_counts, generate
from topk.generator.produce import send
from topk.stores.kafka_client import ensure_topic
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import window_key

pytestmark = pytest.mark.integration
MINUTE = 60_000
FLINK_PROPERTIES = """taskmanager.memory.framework.off-heap.size: 32m
taskmanager.memory.task.off-heap.size: 24m
taskmanager.memory.network.min: 32m
taskmanager.memory.network.max: 32m
"""


def test_a_backlog_larger_than_the_taskmanagers_direct_memory_is_read_without_a_failure(submit, servers, run_id):
    assert wait_for(lambda: taskmanagers() == 1, 60)  # the fresh cluster's, registered
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
        "run",
        "--bounded",
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--group-id",
        run_id,
        "--bootstrap-servers",
        servers.bootstrap,
        "--redis-url",
        servers.redis_url,
        "--redis-prefix",
        run_id,
        "--cassandra-port",
        str(servers.cassandra_port),
        "--cassandra-keyspace",
        f"b{run_id}",
        "--windows",
        "1m,all",
        "--dimensions",
        "region",
        "--k",
        "5",
    )
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


def taskmanagers() -> int:
    """How many TaskManagers the cluster has registered (0 while its REST endpoint is not up)."""
    try:
        return len(rest("/taskmanagers")["taskmanagers"])
    except OSError:
        return 0
