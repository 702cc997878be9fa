"""The processes of a job started from this machine (fault injection in tests, memory in benchmarks);
not part of the product."""

from __future__ import annotations

import psutil


def python_workers(pid: int) -> list[psutil.Process]:
    """The Python worker processes among the descendants of ``pid`` (``is_python_worker``)."""
    return [p for p in psutil.Process(pid).children(recursive=True) if is_python_worker(p)]


def is_python_worker(process: psutil.Process) -> bool:
    """Whether ``process`` is a Python worker: PyFlink's boot process, with ``fn_execution`` in its command
    line. On a cluster, and locally with ``_python_worker_execution_mode=process``, it runs the Beam SDK
    harness itself; in a local run's default loopback mode the harness runs inside the launcher and the
    boot process only waits for it."""
    return "fn_execution" in " ".join(process.cmdline())
