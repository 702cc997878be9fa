"""Hot groups: how evenly the keyed operators' subtasks share a stream whose events are 90 % one
dimension value, at parallelism 2, on a local standalone cluster (scripts/submit.sh): a finished
job keeps its per-subtask record counts in the cluster's REST API, where the MiniCluster's end with
the job. The JVM pre-aggregates locally before the keyed exchange, so each subtask receives one row
per (source subtask, minute, group) however many events the group has."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from bench import e2e
from topk.generator.events import StreamSpec, encode, generate
from topk.generator.produce import ensure_topic, send

REST = "http://127.0.0.1:8081"  # conf/flink-conf.yaml: rest.port
HOT_SHARE = 0.9  # of the events have region eu-west; the rest the other three
OTHERS = ("us-east", "us-west", "ap-south")


def _rest(path: str) -> dict:
    with urllib.request.urlopen(REST + path, timeout=10) as page:
        return json.loads(page.read())


def run(tmp: Path, events: int = 200_000) -> list[dict]:
    """Per keyed vertex (after the exchange, so not the sources): the records each subtask read, and
    max/min. Dimensions region and category: 10 groups (with all/all) a minute, 10 minutes."""
    name, now = f"hot{int(time.time())}", int(time.time() * 1000)
    stream = list(generate(StreamSpec(events, 100_000, 1.1, now - now % 3_600_000 - 3_600_000, 600_000, seed=5)))
    for i, event in enumerate(stream):
        event["payload"]["region"] = "eu-west" if i % 10 < HOT_SHARE * 10 else OTHERS[i // 10 % len(OTHERS)]
    ensure_topic(e2e.KAFKA, name, partitions=2)
    send(e2e.KAFKA, name, [encode(e) for e in stream])
    env = {**os.environ, **{f"FLINK_{d}_DIR": str(tmp / "flink" / d.lower()) for d in ("CONF", "LOG", "PID")}}
    submit = ["bash", str(e2e.ROOT / "scripts/submit.sh")]
    subprocess.run([*submit, "cluster-start"], env=env, check=True, capture_output=True)
    try:
        flags = [
            "--bounded", "--start-from", "earliest", "--topic", name, "--bootstrap-servers", e2e.BOOTSTRAP,
            "--group-id", name, "--dead-letter-topic", f"{name}-dlq", "--redis-prefix", name,
            "--redis-url", e2e.REDIS_URL, "--cassandra-port", str(e2e.CASSANDRA_PORT), "--cassandra-keyspace", name,
            "--parallelism", "2", "--checkpoint-dir", (tmp / name).as_uri(),
            "--windows", "1m,1h,1d", "--dimensions", "region,category", "--k", "100",
        ]  # fmt: skip
        subprocess.run([*submit, "run", *flags], env=env, check=True, capture_output=True, timeout=600)
        job = _finished(timeout_s=900)
        out = []
        for vertex in _rest(f"/jobs/{job}")["vertices"]:
            if vertex["parallelism"] < 2:
                continue
            subtasks = _rest(f"/jobs/{job}/vertices/{vertex['id']}")["subtasks"]
            read = [s["metrics"]["read-records"] for s in subtasks]
            if (min(read) == 0 and max(read) == 0) or "Source" in vertex["name"]:
                continue
            out.append({"operator": vertex["name"][:60], "records_in_by_subtask": read,
                        "max_over_min": max(read) / max(1, min(read))})  # fmt: skip
        return out
    finally:
        subprocess.run([*submit, "cluster-stop"], env=env, capture_output=True)


def _finished(timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = _rest("/jobs/overview")["jobs"]
        if jobs and jobs[0]["state"] in ("FINISHED", "FAILED", "CANCELED"):
            if jobs[0]["state"] != "FINISHED":
                raise RuntimeError(f"hot-group job {jobs[0]['state']}")
            return jobs[0]["jid"]
        time.sleep(1)
    raise TimeoutError("hot-group job did not finish")
