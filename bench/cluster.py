"""A local standalone Flink cluster (``scripts/submit.sh``) for benchmarks that read a job's figures
from the cluster's REST API: a finished job's per-subtask record counts (the MiniCluster's end with
the job), or a checkpoint triggered on a running job. Not part of the product."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pyflink

from bench import e2e

REST = "http://127.0.0.1:8081"  # conf/flink-conf.yaml: rest.port
SUBMITTED = re.compile(r"JobID ([0-9a-f]{32})")


def rest(path: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(REST + path, data, {"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(request, timeout=10) as page:
        text = page.read()
    return json.loads(text) if text else {}


def job_flags(name: str, tmp: Path, parallelism: int) -> list[str]:
    """The top-K job's flags for a run named ``name`` on topic ``name`` (own consumer group, Redis
    prefix, Cassandra keyspace and checkpoints) against the bench's servers."""
    return [
        "--start-from",
        "earliest",
        "--overwrite",
        "--topic",
        name,
        "--bootstrap-servers",
        e2e.BOOTSTRAP,
        "--group-id",
        name,
        "--dead-letter-topic",
        f"{name}-dlq",
        "--redis-prefix",
        name,
        "--redis-url",
        e2e.REDIS_URL,
        "--cassandra-port",
        str(e2e.CASSANDRA_PORT),
        "--cassandra-keyspace",
        name.replace("-", "_"),
        "--parallelism",
        str(parallelism),
        "--checkpoint-dir",
        (tmp / name).as_uri(),
    ]


@contextmanager
def standalone(tmp: Path, taskmanagers: int = 1) -> Iterator[Callable[..., str]]:
    """Starts the cluster (its conf, logs and PIDs under ``tmp``; with more than one TaskManager, one slot
    each, so a job at that parallelism spreads over them); yields ``submit(flags, program=None) -> job id``:
    the top-K job detached, or another PyFlink ``program`` (a path) attached in the background, its client's
    output in ``tmp``; stops the cluster."""
    env = {**os.environ, **{f"FLINK_{d}_DIR": str(tmp / "flink" / d.lower()) for d in ("CONF", "LOG", "PID")}}
    if taskmanagers > 1:
        env["FLINK_PROPERTIES"] = "taskmanager.numberOfTaskSlots: 1"
    script = ["bash", str(e2e.ROOT / "scripts/submit.sh")]
    clients: list[subprocess.Popen] = []

    def submit(flags: list[str], program: str | None = None) -> str:
        if program is None:
            done = subprocess.run(
                [*script, "run", *flags], env=env, check=True, capture_output=True, text=True, timeout=600
            )
            return SUBMITTED.findall(done.stdout)[-1]
        out = tmp / f"client-{len(clients)}.log"
        with out.open("w") as sink:
            flink = [str(Path(pyflink.__file__).parent / "bin/flink"), "run", "-py", program, *flags]
            clients.append(subprocess.Popen(flink, env={**env, "PYTHONPATH": str(e2e.ROOT)}, stdout=sink, stderr=sink))
        deadline = time.monotonic() + 600
        while not (found := SUBMITTED.findall(out.read_text())):
            if clients[-1].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{program} was not submitted:\n{out.read_text()[-3000:]}")
            time.sleep(0.5)
        return found[-1]

    subprocess.run([*script, "cluster-start"], env=env, check=True, capture_output=True)
    try:
        for _ in range(taskmanagers - 1):
            subprocess.run([*script, "taskmanager-start"], env=env, check=True, capture_output=True)
        _ready(taskmanagers)
        yield submit
    finally:
        for client in clients:
            with suppress(subprocess.TimeoutExpired):
                client.wait(60)
            if client.poll() is None:
                client.terminate()
                with suppress(subprocess.TimeoutExpired):
                    client.wait(10)
                client.kill()
            if client.wait():
                print(f"a client ended with {client.returncode}: see {tmp}/client-*.log", file=sys.stderr)
        subprocess.run([*script, "cluster-stop"], env=env, capture_output=True)
        _stopped()


def _ready(taskmanagers: int, timeout_s: float = 120) -> None:
    """Waits until the cluster's REST API counts ``taskmanagers`` TaskManagers: the start scripts
    return before the JVMs are up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with suppress(OSError, ValueError):
            if rest("/overview").get("taskmanagers", 0) >= taskmanagers:
                return
        time.sleep(0.5)
    raise TimeoutError(f"the standalone cluster did not show {taskmanagers} TaskManagers in {timeout_s:.0f} s")


def _stopped(timeout_s: float = 60) -> None:
    """Waits until the REST port refuses connections: the stop script only signals the processes, and
    a cluster started while the last one still shuts down would find its port taken."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            rest("/overview")
        except urllib.error.HTTPError:
            pass  # an error status still comes from a live server
        except OSError:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the standalone cluster still answers on {REST} {timeout_s:.0f} s after its stop")


def wait_for(job: str, done: Callable[[dict], bool], timeout_s: float, what: str) -> dict:
    """Polls the job's overview (``/jobs/<id>``) until ``done(it)``; fails if the job ends otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        overview = rest(f"/jobs/{job}")
        if done(overview):
            return overview
        if overview["state"] in ("FAILED", "CANCELED", "FINISHED"):
            raise RuntimeError(f"job {job} {overview['state']} while waiting for {what}")
        time.sleep(1)
    raise TimeoutError(f"job {job}: no {what} in {timeout_s:.0f} s")
