"""Secrets for the stores come from the environment, never from flags: a flag shows in ``ps``, in the
Flink UI and in the job graph.

A secret ``NAME`` is the environment variable ``TOPK_NAME``, or the content (surrounding whitespace
stripped) of the file named by ``TOPK_NAME_FILE`` (how Docker and Kubernetes mount secrets). On a
Flink cluster the TaskManagers' environment must hold them (``scripts/submit.sh cluster-start``
passes its own on). Kafka's secrets are written into its client properties as references that
the client resolves at run time (``topk.stores.kafka_client``).

Names: ``REDIS_USERNAME``, ``REDIS_PASSWORD``, ``CASSANDRA_USERNAME``, ``CASSANDRA_PASSWORD``.
"""

from __future__ import annotations

import os
from pathlib import Path


def secret(name: str) -> str | None:
    """``TOPK_<name>``, else the content of the file ``TOPK_<name>_FILE`` names, else None."""
    value = os.environ.get(f"TOPK_{name}")
    if value is not None:
        return value
    path = os.environ.get(f"TOPK_{name}_FILE")
    if path is None:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as err:
        raise ValueError(f"TOPK_{name}_FILE: cannot read {path}: {err.strerror}") from None
