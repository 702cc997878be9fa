"""Hot groups: how evenly the keyed operators' subtasks share a stream whose events are 90 % one
dimension value, at parallelism 2, on a local standalone cluster (``bench.cluster``). The JVM
pre-aggregates locally before the keyed exchange, so each subtask receives one row per (source
subtask, minute, group) however many events the group has."""

from __future__ import annotations

import time
from pathlib import Path

from bench import cluster, e2e
from topk.generator.events import StreamSpec, encode, generate
from topk.generator.produce import send
from topk.stores.kafka_client import ensure_topic

HOT_SHARE = 0.9  # of the events have region eu-west; the rest the other three
OTHERS = ("us-east", "us-west", "ap-south")


def run(tmp: Path, events: int = 200_000) -> list[dict]:
    """Per keyed vertex (an input hash-partitioned by key): the records each subtask read, and
    max/min. Dimensions region and category: 10 groups (with all/all) a minute, 10 minutes."""
    name, now = f"hot{int(time.time())}", int(time.time() * 1000)
    stream = list(generate(StreamSpec(events, 100_000, 1.1, now - now % 3_600_000 - 3_600_000, 600_000, seed=5)))
    for i, event in enumerate(stream):
        event["payload"]["region"] = "eu-west" if i % 10 < HOT_SHARE * 10 else OTHERS[i // 10 % len(OTHERS)]
    ensure_topic(e2e.KAFKA, name, partitions=2)
    send(e2e.KAFKA, name, [encode(e) for e in stream])
    with cluster.standalone(tmp) as submit:
        flags = [
            "--bounded",
            *cluster.job_flags(name, tmp, 2),
            "--windows",
            "1m,1h,1d",
            "--dimensions",
            "region,category",
            "--k",
            "100",
        ]
        job = submit(flags)
        cluster.wait_for(job, lambda overview: overview["state"] == "FINISHED", 900, "its end")
        keyed = {
            node["id"]
            for node in cluster.rest(f"/jobs/{job}/plan")["plan"]["nodes"]
            if any(i.get("ship_strategy") == "HASH" for i in node.get("inputs", []))
        }
        out = []
        for vertex in cluster.rest(f"/jobs/{job}")["vertices"]:
            if vertex["id"] not in keyed:
                continue
            subtasks = cluster.rest(f"/jobs/{job}/vertices/{vertex['id']}")["subtasks"]
            read = [s["metrics"]["read-records"] for s in subtasks]
            out.append(
                {
                    "operator": vertex["name"][:60],
                    "records_in_by_subtask": read,
                    "max_over_min": max(read) / max(1, min(read)),
                }
            )
        return out
