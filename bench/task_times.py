"""When a job's tasks started reading, from Flink's own record: each subtask's state-change times
(``/jobs/<id>/vertices/<vertex>/subtasktimes``, epoch ms, kept for the job's life) on the REST API of a
standalone cluster, or of the local MiniCluster inside a job's process, found by asking its JVM's
loopback ports. The REST API caches a job's details for up to ``web.refresh-interval`` (3 s), which
delays when the times are known, not the times. Not part of the product."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass

import psutil

PROBE_TIMEOUT_S = 0.3  # a port that is not HTTP (RPC, blobs, data exchange) may not answer at all


@dataclass(frozen=True)
class Started:
    """A job's start, epoch seconds: when its sources were reading (``RUNNING``: a source reads its first
    record on its first fetch), and when every task was (operators opened: the Python workers up)."""

    sources_running: float
    all_running: float


def get(url: str, timeout_s: float = 5) -> object:
    with urllib.request.urlopen(url, timeout=timeout_s) as page:
        return json.load(page)


def find_rest(processes: Iterable[psutil.Process], tried: set[int]) -> str | None:
    """The REST API among the ports these processes' JVMs listen on (``tried``: ports that are not it,
    updated); None while none answers."""
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
                    get(f"{url}/v1/config", PROBE_TIMEOUT_S)
                    return url
                except urllib.error.HTTPError:  # HTTP, not ready yet: the JVM's only HTTP server is Flink's
                    return url
                except TimeoutError:  # silent: not HTTP, or too busy to answer yet
                    continue
                except (OSError, ValueError, http.client.HTTPException):  # another protocol
                    tried.add(port)
    return None


def started(rest: str, job_id: str | None = None) -> Started | None:
    """When the job (``job_id``, else the only one) started, once every task has reached ``RUNNING``;
    None before."""
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
    return Started(max(sources or running) / 1000, max(running) / 1000)
