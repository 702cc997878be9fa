"""State against the universe: the dense stream (1M events in 2 minutes of event time, Zipf 1.1)
over 100k, 1M and 10M distinct items, each run unbounded on a local standalone cluster
(``bench.cluster``). Once the source has read the whole topic, full checkpoints are triggered
through the REST API (three in a row of the same state; the time is their median): a barrier
follows every record read before it (aligned), so each holds the state after the last event, the
same point of the stream for every universe, where the periodic checkpoints of a run land wherever
the run happens to be (how many windows are open then moves their size more than the universe
does). Size and duration come from Flink's checkpoint statistics, with the share of the JVM's
window aggregate (the open minute's summaries being built) and of the Python sketch operator (the
closed minutes' summaries, kept for the hour); then the job is cancelled."""

from __future__ import annotations

import re
import statistics
import time
import urllib.error
from collections import Counter
from pathlib import Path

from bench import cluster, e2e
from jobs.progress import Progress
from topk.generator.events import StreamSpec

UNIVERSES = (100_000, 1_000_000, 10_000_000)
SPAN_MS = 120_000
# After the last record is read, the periodic watermark (200 ms) still moves once: the windows it
# closes leave the JVM's window aggregate for the Python operator before the checkpoint, every run.
SETTLE_S = 5.0
# full checkpoints of the same state in a row: the state's size is the same in each, the time is their
# median (one checkpoint's time moved 164-307 ms between universes with no trend: other work on 2 cores)
CHECKPOINTS = 3
# no periodic checkpoint (one an hour): the triggered one is the only one
FLAGS = [
    "--windows",
    "1m,1h,1d",
    "--dimensions",
    "region,category",
    "--k",
    "100",
    "--capacity",
    "1024",
    "--checkpoint-interval-ms",
    "3600000",
]


def run(tmp: Path, events: int) -> list[dict]:
    name, now = f"state{int(time.time())}", int(time.time() * 1000)
    start = now - 2 * 3_600_000
    out = []
    with cluster.standalone(tmp) as submit:
        for universe in UNIVERSES:
            topic = f"{name}-u{universe}"
            e2e.produce(topic, StreamSpec(events, universe, 1.1, start - start % 3_600_000, SPAN_MS, seed=1), 2)
            job = submit([*cluster.job_flags(topic, tmp, 1), *FLAGS])
            try:
                read_all = f"{events:,} records read"
                cluster.wait_for(job, lambda overview: _records_read(overview["jid"]) >= events, 900, read_all)
                time.sleep(SETTLE_S)
                taken = [_full_checkpoint(job) for _ in range(CHECKPOINTS)]
            finally:
                cluster.rest(f"/jobs/{job}?mode=cancel", "PATCH")
                # its Python worker ends with the job; a cluster stopped before leaves it running
                cluster.wait_for(job, lambda overview: overview["state"] == "CANCELED", 120, "its cancellation")
            stats = taken[-1]
            mb = _mb_by_operator(job, stats)
            out.append(
                {
                    "universe": universe,
                    "events": events,
                    "state_mb": stats["state_size"] / 1e6,
                    "checkpoint_ms": statistics.median(c["end_to_end_duration"] for c in taken),
                    "window_aggregate_mb": mb["GlobalWindowAggregate"],
                    "sketches_mb": mb["topk-sketches"],
                }
            )
    base = next(r for r in out if r["universe"] == 1_000_000)
    for r in out:
        r["state_vs_1m"] = r["state_mb"] / base["state_mb"]
        r["time_vs_1m"] = r["checkpoint_ms"] / base["checkpoint_ms"]
    return out


def _mb_by_operator(job: str, stats: dict) -> Counter[str]:
    """The checkpoint's state (MB) per vertex, by the first operator of its chain (the name's first word)."""
    names = {v["id"]: re.split(r"[\[, ]", v["name"])[0] for v in cluster.rest(f"/jobs/{job}")["vertices"]}
    mb: Counter[str] = Counter()
    for vertex, task in stats["tasks"].items():
        mb[names[vertex]] += task["state_size"] / 1e6
    return mb


def _records_read(job: str) -> float:
    """The records the job's Kafka sources have read (FLIP-33 ``numRecordsIn``), as its progress line
    counts them."""
    return Progress(cluster.REST, job, None, 0).sample()["records"]


def _full_checkpoint(job: str, timeout_s: float = 300) -> dict:
    """Triggers a full checkpoint (live state only, not the incremental one's shared files) and
    returns its statistics once it completes (they reach the REST API's statistics cache a few
    seconds later: ``rest.cache.checkpoint-statistics.timeout``). Until then the details handler
    answers from a cache keyed by checkpoint id alone, across jobs: an earlier job's checkpoint of the
    same id, told apart by its trigger time."""
    triggered_ms = time.time() * 1000 - 1000
    trigger = cluster.rest(f"/jobs/{job}/checkpoints", "POST", {"checkpointType": "FULL"})["request-id"]
    deadline, checkpoint = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        if checkpoint is None:
            status = cluster.rest(f"/jobs/{job}/checkpoints/{trigger}")
            if status["status"]["id"] == "COMPLETED":
                if "failure-cause" in status["operation"]:
                    raise RuntimeError(f"checkpoint of {job} failed: {status['operation']['failure-cause']}")
                checkpoint = status["operation"]["checkpointId"]
        if checkpoint is not None:
            try:
                details = cluster.rest(f"/jobs/{job}/checkpoints/details/{checkpoint}")
                if details["trigger_timestamp"] >= triggered_ms:
                    return details
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
        time.sleep(0.5)
    raise TimeoutError(f"checkpoint of {job} did not complete in {timeout_s:.0f} s")
