"""When a job's tasks started reading, from Flink's own record: each subtask's state-change times
(``/jobs/<id>/vertices/<vertex>/subtasktimes``, epoch ms, kept for the job's life) on the REST API of a
standalone cluster, or of the local MiniCluster inside a job's process, found by asking its JVM's
loopback ports. The REST API caches a job's details for up to ``web.refresh-interval`` (3 s), which
delays when the times are known, not the times. Not part of the product."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass

import psutil

PROBE_TIMEOUT_S = 0.3  # a port that is not HTTP (RPC, blobs, data exchange) may not answer at all


@dataclass(frozen=True)
class Started:
    """A job's start, epoch seconds: when its sources' tasks were running (``RUNNING``, stamped by the
    JobManager once a task's operators are open: the source's first fetch follows, so this is a lower
    bound on its first record), and when every task was (the Python workers up)."""

    sources_running: float
    all_running: float


class StartWatch(threading.Thread):
    """Follows a local job's process tree (``tree``, a dict kept up to date by the caller) until its
    start is known or ``stop``: ``started`` then holds it, or None with ``error`` saying why."""

    def __init__(self, tree: dict[int, psutil.Process], interval_s: float = 1.0) -> None:
        super().__init__(name="start-watch", daemon=True)
        self.tree, self.interval_s = tree, interval_s
        self.started: Started | None = None
        self.error = "the job ended before its REST API showed every task running"
        self.stopped = threading.Event()

    def run(self) -> None:
        rest, not_rest = None, set()
        while self.started is None and not self.stopped.wait(self.interval_s):
            try:
                rest = rest or find_rest(list(self.tree.values()), not_rest)
                self.started = started(rest) if rest else None
            except (OSError, http.client.HTTPException, ValueError, KeyError) as err:  # not up, or ending
                self.error = f"{type(err).__name__}: {err}"

    def stop(self) -> None:
        self.stopped.set()
        self.join(10)


def get(url: str, timeout_s: float = 5) -> object:
    with urllib.request.urlopen(url, timeout=timeout_s) as page:
        return json.load(page)


def find_rest(processes: Iterable[psutil.Process], tried: set[int]) -> str | None:
    """The REST API among the ports these processes' JVMs listen on: the one whose ``/v1/config``
    answers with a ``flink-version``. ``tried``: ports that speak another protocol (they answer
    something that is not HTTP), updated; a port that is silent, refuses, resets or answers an HTTP
    error may be the REST API still starting, and is asked again next time. None while none answers."""
    for p in processes:
        with suppress(psutil.Error):
            if "java" not in p.name():
                continue
            for conn in p.net_connections("tcp"):
                port = conn.laddr.port
                if conn.status != psutil.CONN_LISTEN or port in tried:
                    continue
                url = f"http://127.0.0.1:{port}"
                try:
                    answer = get(f"{url}/v1/config", PROBE_TIMEOUT_S)
                except http.client.RemoteDisconnected:  # closed without an answer: ask again
                    continue
                except (http.client.BadStatusLine, json.JSONDecodeError):  # another protocol
                    tried.add(port)
                    continue
                except (OSError, http.client.HTTPException):  # starting, busy, or an HTTP error: ask again
                    continue
                if isinstance(answer, dict) and "flink-version" in answer:
                    return url
                tried.add(port)
    return None


def started(rest: str, job_id: str | None = None) -> Started | None:
    """When the job (``job_id``, else the only one: a local MiniCluster runs one) started, once every
    task has reached ``RUNNING``; None before. Its sources: the vertices Flink names ``Source: ...``."""
    if job_id is None:
        jobs = get(f"{rest}/jobs/overview")["jobs"]
        if len(jobs) != 1:
            return None
        job_id = jobs[0]["jid"]
    vertices = get(f"{rest}/jobs/{job_id}")["vertices"]
    if not vertices:
        return None
    sources, running = [], []
    for v in vertices:
        times = get(f"{rest}/jobs/{job_id}/vertices/{v['id']}/subtasktimes")["subtasks"]
        at = [s["timestamps"].get("RUNNING", 0) for s in times]
        if not at or min(at) <= 0:
            return None
        running.append(max(at))
        if v["name"].startswith("Source:"):
            sources.append(max(at))
    if not sources:
        raise ValueError(f"job {job_id} has no vertex named 'Source: ...'")
    return Started(max(sources) / 1000, max(running) / 1000)
