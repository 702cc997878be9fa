"""Progress of a job run on the local MiniCluster, logged every few seconds: records and bytes the
Kafka source has read (against the end offsets, for a bounded run), records per second, windows
emitted, the sketch operator's Python time per row, and the checkpoints completed so far (the largest
full state, the slowest and the median duration). The figures are Flink's own metrics and checkpoint
statistics, read from the MiniCluster's REST API (the same a cluster's web UI shows); a job submitted
to a cluster is followed there instead."""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from pyflink.datastream import StreamExecutionEnvironment

from jobs.settings import JobSettings
from topk.stores.kafka_client import KafkaClient

METRICS = {  # what is reported -> the Flink metric (summed over vertices and subtasks)
    "records": re.compile(r"Source__[^.]*\.numRecordsIn"),  # the source's (FLIP-33): records and bytes read
    "bytes": re.compile(r"Source__[^.]*\.numBytesIn"),
    "windows": re.compile(r".*\.topk\.windowsEmitted"),  # udfs/topk_window.py
    "sketch_updates": re.compile(r".*\.topk\.sketchUpdates"),  # rows and timers the sketch operator handled,
    "sketch_micros": re.compile(r".*\.topk\.sketchUpdateMicros"),  # and their time (wall)
    "sketch_cpu_micros": re.compile(r".*\.topk\.sketchCpuMicros"),  # and CPU
}
FETCH_INTERVAL_MS = 1_000  # how fresh the REST API's metrics are (Flink's default: 10 s)
BAR = 20


def say(text: str) -> None:
    print(f"progress: {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def backlog(kafka: KafkaClient, topic: str, group_id: str, start_from: str) -> int | None:
    """Records between where the run starts (the group's committed offsets, else the earliest; or the
    earliest for ``earliest``) and the topic's end offsets now; None when the start is elsewhere."""
    if start_from not in ("group", "earliest"):
        return None
    consumer = KafkaConsumer(**kafka.kafka_python(), group_id=group_id, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends, begins = consumer.end_offsets(parts), consumer.beginning_offsets(parts)
        committed = {tp: consumer.committed(tp) if start_from == "group" else None for tp in parts}
        return sum(ends[tp] - (committed[tp] if committed[tp] is not None else begins[tp]) for tp in parts)
    finally:
        consumer.close()


def line(sample: dict[str, float], total: int | None, rate: float) -> str:
    """``sample`` as one progress line, with a bar when the total is known (``bench/e2e.py`` reads
    the checkpoint part back)."""
    done = f"{sample['records']:,.0f} records"
    if total:
        share = min(sample["records"] / total, 1.0)
        filled = round(share * BAR)
        done = f"[{'#' * filled}{'.' * (BAR - filled)}] {share:4.0%} {sample['records']:,.0f} of {total:,} records"
    text = f"{done}, {sample['bytes'] / 1e6:,.1f} MB, {rate:,.0f} records/s, {sample['windows']:,.0f} windows emitted"
    if sample.get("sketch_updates"):
        per_row = sample["sketch_micros"] / sample["sketch_updates"] / 1000
        cpu = sample.get("sketch_cpu_micros", 0.0) / sample["sketch_updates"] / 1000
        text += f", sketch operator {per_row:,.2f} ms a row ({cpu:,.2f} ms CPU)"
        text += f" over {sample['sketch_updates']:,.0f} rows and timers"
    if sample.get("checkpoints"):
        n, largest, slowest = sample["checkpoints"], sample["checkpoint_bytes"] / 1e6, sample["checkpoint_ms"]
        median = sample["checkpoint_median_ms"]
        text += f", {n:,.0f} checkpoints (largest state {largest:,.2f} MB, slowest {slowest:,.0f} ms, "
        text += f"median {median:,.0f} ms)"
    return text


class Progress(threading.Thread):
    """Logs ``line`` every ``interval_s`` until ``stop``; a metric not there yet counts as 0."""

    def __init__(
        self, rest: str, job_id: str, total: int | None, interval_s: float, report: Callable[[str], None] = say
    ) -> None:
        super().__init__(name="progress", daemon=True)
        self.rest, self.job_id, self.total, self.interval_s, self.report = rest, job_id, total, interval_s, report
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()
        self.join(5)

    def get(self, path: str) -> object:
        with urllib.request.urlopen(self.rest + path, timeout=5) as r:
            return json.load(r)

    def sample(self) -> dict[str, float]:
        totals = dict.fromkeys(METRICS, 0.0)
        for vertex in self.get(f"/jobs/{self.job_id}")["vertices"]:
            path = f"/jobs/{self.job_id}/vertices/{vertex['id']}/subtasks/metrics"
            ids = {m["id"] for m in self.get(path)}
            wanted = {i: name for i in ids for name, pattern in METRICS.items() if pattern.fullmatch(i)}
            if wanted:
                for m in self.get(f"{path}?get={','.join(sorted(wanted))}&agg=sum"):
                    totals[wanted[m["id"]]] += float(m["sum"])
        stats = self.get(f"/jobs/{self.job_id}/checkpoints")  # Flink's checkpoint statistics
        if stats["counts"]["completed"]:
            summary = stats["summary"]
            totals["checkpoints"] = float(stats["counts"]["completed"])
            totals["checkpoint_bytes"] = float(summary["state_size"]["max"])  # full state, incremental or not
            totals["checkpoint_ms"] = float(summary["end_to_end_duration"]["max"])
            totals["checkpoint_median_ms"] = float(summary["end_to_end_duration"]["p50"])
        return totals

    def run(self) -> None:
        started = last_at = time.monotonic()
        last = 0.0
        while not self.stopped.wait(self.interval_s):
            try:
                now = self.sample()
            except (OSError, ValueError, KeyError):  # not up yet, or finished: try again, or stop
                continue
            at = time.monotonic()
            self.report(line(now, self.total, (now["records"] - last) / (at - last_at)))
            last, last_at = now["records"], at
        self.report(f"finished after {time.monotonic() - started:,.1f} s")


def execute(env: StreamExecutionEnvironment, name: str, settings: JobSettings) -> None:
    """Runs the job built in ``env``. Submitted to a cluster (``flink run``): as the CLI asks. On the
    local MiniCluster: to its end, with a progress line every ``--progress-interval-s``."""
    local = env._j_stream_execution_environment.getClass().getSimpleName() == "LocalStreamEnvironment"
    if not local or not settings.run.progress_interval_s:
        env.execute(name)
        return
    src, kafka = settings.source, settings.kafka
    total = backlog(kafka.client, kafka.topic, src.group_id, src.start_from) if src.bounded else None
    job = env.execute_async(name)
    port = env._j_stream_execution_environment.getConfiguration().toMap().get("rest.bind-port")
    rest = f"http://127.0.0.1:{port}"
    progress = Progress(rest, str(job.get_job_id()), total, settings.run.progress_interval_s)
    progress.start()
    try:
        job.get_job_execution_result().result()
    finally:
        progress.stop()
