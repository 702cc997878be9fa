"""End to end on real servers: events/s of our job (Kafka -> Redis + Cassandra) at parallelism
1 and 2 and of the all-JVM peer (bench/peer_job.py) on the same topic, in the same run.

Each job runs bounded (to the topic's end offsets) on an empty topic, which measures the fixed cost
(JVM, planning, job start and finish; the median of its first three such runs: it varies by
seconds), and on the stream. ``events/s`` is events over the difference; ``events/s incl. start``
is events over the whole run. ``CPU s per 1M events``: CPU-seconds of the job's whole process tree
(launcher, JVM, Python workers) per million events, less the same on the empty topic: on a machine with
few cores, the figure that says how many cores a rate needs.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.task_times import Started, StartWatch
from bench.workers import is_python_worker
from topk.generator.events import StreamSpec, encode, generate
from topk.generator.produce import send
from topk.stores.kafka_client import KafkaClient, ensure_topic

ROOT = Path(__file__).resolve().parents[1]
PORTS = {"KAFKA_PORT": "29092", "REDIS_PORT": "26379", "CASSANDRA_PORT": "29042"}
BOOTSTRAP = f"127.0.0.1:{PORTS['KAFKA_PORT']}"
KAFKA = KafkaClient(BOOTSTRAP)
REDIS_URL = f"redis://127.0.0.1:{PORTS['REDIS_PORT']}/0"
CASSANDRA_PORT = int(PORTS["CASSANDRA_PORT"])


@dataclass(frozen=True)
class E2EResult:
    name: str
    stream: str
    parallelism: int
    events: int
    seconds: float  # whole bounded run on the stream
    fixed_seconds: float  # the same job on an empty topic
    cpu_seconds: float  # CPU (user + system) of the job's whole process tree over the run on the stream
    fixed_cpu_seconds: float  # and on the empty topic
    # from the launch to its sources reading (``bench.task_times``: the first record follows), and to every
    # task running (the Python workers up); 0 when the REST API did not show them before the job ended
    start_s: float
    all_running_s: float
    # ours only (0 for the peer, which has no Python workers, checkpoints or sketch operator):
    peak_python_rss_mb: float = 0.0  # its Python processes together (``Run``), sampled every 0.2 s
    checkpoints: int = 0  # Flink's checkpoint statistics: checkpoints completed,
    checkpoint_state_mb: float = 0.0  # the largest full state checkpointed,
    checkpoint_ms: float = 0.0  # the slowest checkpoint, end to end,
    checkpoint_median_ms: float = 0.0  # and the median one
    sketch_ms_per_row: float = 0.0  # the sketch operator's time per row or timer (store writes included),
    sketch_cpu_ms_per_row: float = 0.0  # and its CPU time

    @property
    def events_per_s(self) -> float:
        return self.events / max(1e-9, self.seconds - self.fixed_seconds)

    @property
    def events_per_s_with_start(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_s_per_million(self) -> float:
        """CPU-seconds per million events, leaving out what the same job spends on an empty topic."""
        return 1e6 * max(0.0, self.cpu_seconds - self.fixed_cpu_seconds) / self.events

    @property
    def cpu_s_per_million_with_start(self) -> float:
        return 1e6 * self.cpu_seconds / self.events


@contextmanager
def servers(state_dir: Path) -> Iterator[None]:
    env = {**os.environ, **PORTS, "TOPK_STATE_DIR": str(state_dir)}
    script, names = str(ROOT / "scripts/servers.sh"), ["kafka", "redis", "cassandra"]  # checkpoints: file://
    try:
        subprocess.run(["bash", script, "start", *names], env=env, check=True)
        yield
    finally:
        subprocess.run(["bash", script, "stop", *names], env=env)


def produce(topic: str, spec: StreamSpec, partitions: int) -> int:
    ensure_topic(KAFKA, topic, partitions)
    return send(KAFKA, topic, (encode(e) for e in generate(spec)))


PROGRESS = {  # what the job's progress lines say (jobs/progress.py) -> its figures, in order
    ("checkpoints", "checkpoint_state_mb", "checkpoint_ms", "checkpoint_median_ms"): re.compile(
        r"([\d,]+) checkpoints \(largest state ([\d,.]+) MB, slowest ([\d,]+) ms, median ([\d,]+) ms\)"
    ),
    ("sketch_ms_per_row", "sketch_cpu_ms_per_row"): re.compile(
        r"sketch operator ([\d,.]+) ms a row \(([\d,.]+) ms CPU\)"
    ),
}


def _progress(output: str) -> dict[str, float]:
    """The figures of the job's last progress line that has them (Flink's metrics and checkpoint
    statistics); 0 for those no line had."""
    figures = {}
    for names, pattern in PROGRESS.items():
        found = [m.groups() for m in pattern.finditer(output)] or [("0",) * len(names)]
        figures |= {n: float(v.replace(",", "")) for n, v in zip(names, found[-1], strict=True)}
    return figures


@dataclass(frozen=True)
class Run:
    seconds: float  # wall
    cpu_seconds: float  # user + system of the process and every descendant (JVM, Python workers)
    # its Python processes together: the launcher, which runs the Python worker itself in a local run (PyFlink's
    # loopback mode: the boot process only asks it to start one), and PyFlink's boot processes
    peak_python_rss_mb: float
    figures: dict[str, float]  # what its last progress lines say (``_progress``)
    started: Started | None  # when its tasks were running (``bench.task_times``), None if not seen
    launched: float  # epoch seconds, when the command was started


def _run(cmd: list[str], heap_mb: int | None = None) -> Run:
    """Runs ``cmd`` to its end, sampling its process tree every 0.2 s. ``heap_mb`` caps the JVM heap of
    the local cluster (JobManager and TaskManager in one JVM, ``JVM_ARGS``). The CPU time is each
    process's last sample (a process's last 0.2 s before it exits can be missed); the servers (Kafka,
    Redis, Cassandra) are not in the tree, the same for every job."""
    began, launched = time.perf_counter(), time.time()
    env = {**os.environ, "JVM_ARGS": f"-Xmx{heap_mb}m"} if heap_mb else None
    job = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, cpu, tree, python = 0.0, {}, {}, {}
    watch = StartWatch(tree)

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(job.pid)
        tree[root.pid] = python[root.pid] = root
        while job.poll() is None:
            with suppress(psutil.Error):
                for p in root.children(recursive=True):  # one walk of the tree; each command line read once
                    if p.pid not in tree:
                        tree[p.pid] = p
                        if is_python_worker(p):
                            python[p.pid] = p
                peak = max(peak, sum(p.memory_info().rss for p in python.values() if p.is_running()) / 2**20)
            for pid, p in tree.items():
                with suppress(psutil.Error):
                    t = p.cpu_times()
                    cpu[pid] = t.user + t.system
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    watch.start()
    output, _ = job.communicate()
    sampler.join()
    watch.stop()
    if job.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed:\n{output[-3000:]}")
    if watch.started is None:
        print(f"start of {' '.join(cmd[2:4])} not seen: {watch.error}", file=sys.stderr)
    return Run(time.perf_counter() - began, sum(cpu.values()), peak, _progress(output), watch.started, launched)


OURS = "ours (PyFlink, sketches, Redis + Cassandra)"
OURS_UNGATED = "ours, no tenant config topic (--config-topic '')"
PEER = "all-JVM Flink SQL Window Top-N (exact)"
READ_ONLY = "Flink SQL read + parse only (ceiling)"
FIXED_RUNS = 3  # the start/stop cost varies by seconds from run to run: the median of this many empty runs
_fixed: dict[tuple[str, int], list[Run]] = {}  # start/stop costs per job and parallelism, one per empty run


def _fixed_cost(name: str, parallelism: int, cmd: list[str]) -> tuple[float, float]:
    """The median start/stop cost of a job, wall and CPU seconds: its first FIXED_RUNS calls each run it once
    more on the empty topic."""
    runs = _fixed.setdefault((name, parallelism), [])
    if len(runs) < FIXED_RUNS:
        runs.append(_run(cmd))
    return statistics.median(r.seconds for r in runs), statistics.median(r.cpu_seconds for r in runs)


def ours(
    stream: str,
    topic: str,
    empty: str,
    events: int,
    parallelism: int,
    args: list[str],
    tmp: Path,
    heap_mb: int | None = None,
    name: str = OURS,
) -> E2EResult:
    def cmd(t: str) -> list[str]:
        run = f"{t}-p{parallelism}"
        return [
            sys.executable,
            "-m",
            "jobs.topk_job",
            "--bounded",
            "--start-from",
            "earliest",
            "--overwrite",
            "--topic",
            t,
            "--bootstrap-servers",
            BOOTSTRAP,
            "--group-id",
            run,
            "--dead-letter-topic",
            f"{run}-dlq",
            "--redis-prefix",
            run,
            "--redis-url",
            REDIS_URL,
            "--cassandra-port",
            PORTS["CASSANDRA_PORT"],
            "--cassandra-keyspace",
            run.replace("-", "_"),
            "--parallelism",
            str(parallelism),
            "--checkpoint-dir",
            (tmp / run).as_uri(),
            "--progress-interval-s",
            "1",
            *args,
        ]

    fixed, fixed_cpu = _fixed_cost(name, parallelism, cmd(empty))
    run = _run(cmd(topic), heap_mb)
    figures = {**run.figures, "checkpoints": int(run.figures["checkpoints"])}
    rss = {"peak_python_rss_mb": run.peak_python_rss_mb}
    return _result(name, stream, parallelism, events, run, fixed, fixed_cpu, **rss, **figures)


def peer(
    stream: str, topic: str, empty: str, events: int, parallelism: int, args: list[str], read_only: bool = False
) -> E2EResult:
    def cmd(t: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "bench.peer_job",
            "--bootstrap-servers",
            BOOTSTRAP,
            "--topic",
            t,
            "--parallelism",
            str(parallelism),
            *args,
            *(["--read-only"] if read_only else []),
        ]

    name = READ_ONLY if read_only else PEER
    fixed, fixed_cpu = _fixed_cost(name, parallelism, cmd(empty))
    return _result(name, stream, parallelism, events, _run(cmd(topic)), fixed, fixed_cpu)


def _result(
    name: str, stream: str, parallelism: int, events: int, run: Run, fixed: float, fixed_cpu: float, **extra: float
) -> E2EResult:
    """The result of ``run`` on the stream, beside the job's start/stop cost (wall and CPU seconds)."""
    return E2EResult(
        name=name,
        stream=stream,
        parallelism=parallelism,
        events=events,
        seconds=run.seconds,
        fixed_seconds=fixed,
        cpu_seconds=run.cpu_seconds,
        fixed_cpu_seconds=fixed_cpu,
        start_s=run.started.sources_running - run.launched if run.started else 0.0,
        all_running_s=run.started.all_running - run.launched if run.started else 0.0,
        **extra,
    )
