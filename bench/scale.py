"""Scaling out: ours, the exact peer and the ceiling at parallelism 2 on a local standalone cluster of
two TaskManagers with one slot each (``bench.cluster``), on the end-to-end section's dense stream, to
check the cores-per-rate arithmetic of the MiniCluster runs (CPU per event times the rate) where each
subtask has a TaskManager of its own. Both TaskManagers share this machine's 2 cores and the servers:
the figures are ratios against the peer and the ceiling of the same cluster, not speeds.

``events/s``: events over the time from every task of the job running (``bench.task_times``: ours'
Python workers up) to its end, both from Flink's own record; it still holds the bounded job's end,
which for ours waits for a last checkpoint (every 10 s). ``CPU s per 1M events``: CPU-seconds of the
cluster's processes (the JobManager, the TaskManagers and the Python workers they start), sampled every
0.2 s, over the job, less the median of the same job on an empty topic (``e2e.FIXED_RUNS`` runs, on the
cluster already up); the client that plans the job is not counted."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench import cluster, e2e
from bench.task_times import started

PARALLELISM, TASKMANAGERS = 2, 2
JOB_ARGS = ["--windows", "1m,1h,1d", "--k", "100"]  # as in the end-to-end section
OURS_ARGS = ["--capacity", "1024"]


@dataclass(frozen=True)
class ScaleResult:
    name: str
    events: int
    seconds: float  # from every task running to the job's end
    start_s: float  # from the job's submission to the cluster to its sources running
    all_running_s: float  # and to every task running
    cpu_seconds: float  # the cluster's processes, over the job on the stream
    fixed_cpu_seconds: float  # and over the same job on an empty topic

    @property
    def events_per_s(self) -> float:
        return self.events / max(1e-9, self.seconds)

    @property
    def cpu_s_per_million(self) -> float:
        return 1e6 * max(0.0, self.cpu_seconds - self.fixed_cpu_seconds) / self.events


class ClusterCpu(threading.Thread):
    """CPU-seconds (user + system) of the processes under ``pid_dir``'s PID files and their descendants,
    each process's last sample (a process is its PID and start time); ``total()`` at any time."""

    def __init__(self, pid_dir: Path) -> None:
        super().__init__(name="cluster-cpu", daemon=True)
        self.pid_dir, self.cpu, self.stopped = pid_dir, {}, threading.Event()

    def processes(self) -> list[psutil.Process]:
        found = []
        for f in self.pid_dir.glob("*.pid"):
            for n in f.read_text().split():
                with suppress(psutil.Error, ValueError):
                    root = psutil.Process(int(n))
                    found += [root, *root.children(recursive=True)]
        return found

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            for p in self.processes():
                with suppress(psutil.Error):
                    t = p.cpu_times()
                    self.cpu[(p.pid, p.create_time())] = t.user + t.system

    def total(self) -> float:
        if not self.is_alive():
            raise RuntimeError("the cluster's CPU sampler stopped")
        time.sleep(0.5)  # two samples more: the last of a process that just ended
        return sum(self.cpu.values())

    def stop(self) -> None:
        self.stopped.set()
        self.join(5)


def run(tmp: Path, topic: str, empty: str, events: int) -> list[dict]:
    """Each job on ``empty`` (its fixed CPU), then on ``topic`` (``events`` events)."""
    peer_job = str(e2e.ROOT / "bench/peer_job.py")
    jobs = {
        e2e.OURS: lambda t: ([*cluster.job_flags(t, tmp, PARALLELISM), "--bounded", *JOB_ARGS, *OURS_ARGS], None),
        e2e.PEER: lambda t: (_peer_flags(t), peer_job),
        e2e.READ_ONLY: lambda t: ([*_peer_flags(t), "--read-only"], peer_job),
    }
    out = []
    with cluster.standalone(tmp, TASKMANAGERS) as submit:
        cpu = ClusterCpu(tmp / "flink" / "pid")
        cpu.start()
        try:
            for name, flags in jobs.items():
                fixed_cpu = statistics.median(_one(submit, cpu, *flags(empty))[0] for _ in range(e2e.FIXED_RUNS))
                cpu_seconds, seconds, start_s, all_running_s = _one(submit, cpu, *flags(topic))
                r = ScaleResult(name, events, seconds, start_s, all_running_s, cpu_seconds, fixed_cpu)
                out.append({**r.__dict__, "events_per_s": r.events_per_s, "cpu_s_per_million": r.cpu_s_per_million})
        finally:
            cpu.stop()
    peer = next(r for r in out if r["name"] == e2e.PEER)
    ceiling = next(r for r in out if r["name"] == e2e.READ_ONLY)
    for r in out:
        r["vs_peer"] = r["events_per_s"] / peer["events_per_s"]
        r["vs_ceiling"] = r["events_per_s"] / ceiling["events_per_s"]
        r["cpu_vs_ceiling"] = r["cpu_s_per_million"] / max(1e-9, ceiling["cpu_s_per_million"])
    return out


def _peer_flags(topic: str) -> list[str]:
    return ["--bootstrap-servers", e2e.BOOTSTRAP, "--topic", topic, "--parallelism", str(PARALLELISM), *JOB_ARGS]


def _one(
    submit: Callable[..., str], cpu: ClusterCpu, flags: list[str], program: str | None
) -> tuple[float, float, float, float]:
    """Runs one job to its end: the cluster's CPU-seconds over it, the seconds from every task running to
    its end, and from its submission to its sources running and to every task running."""
    before = cpu.total()
    job = submit(flags, program)
    overview = cluster.wait_for(job, lambda o: o["state"] == "FINISHED", 1800, "its end")
    after = cpu.total()
    began = started(cluster.REST, job)
    if began is None:
        raise RuntimeError(f"job {job} finished without its tasks' start times")
    end, submitted = overview["end-time"] / 1000, overview["start-time"] / 1000
    return after - before, end - began.all_running, began.sources_running - submitted, began.all_running - submitted
