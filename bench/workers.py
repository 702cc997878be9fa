"""The processes of a job started from this machine (fault injection in tests, memory in benchmarks);
not part of the product."""

from __future__ import annotations

import psutil


def python_workers(pid: int) -> list[psutil.Process]:
    """The Python worker processes (PyFlink's Beam SDK harness) among the descendants of ``pid``."""
    return [p for p in psutil.Process(pid).children(recursive=True) if "fn_execution" in " ".join(p.cmdline())]
