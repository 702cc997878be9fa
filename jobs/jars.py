"""The jars the job needs besides Flink's own, all built or fetched by scripts/setup.sh."""

from __future__ import annotations

import os
from pathlib import Path

JARS_DIR = Path(os.environ.get("TOPK_JARS_DIR", Path(__file__).resolve().parent.parent / ".jars"))
JOB_JARS = (
    "flink-connector-kafka.jar",  # Kafka source and sink (from PyPI, see scripts/setup.sh)
    "kafka-clients.jar",
    "topk-udfs.jar",  # our JVM functions, compiled from udfs/jvm
)


def job_jar_urls() -> list[str]:
    """``file://`` URLs for ``env.add_jars``; fails fast if any is missing."""
    paths = [JARS_DIR / name for name in JOB_JARS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"jars missing: {missing}; run scripts/setup.sh")
    return [p.resolve().as_uri() for p in paths]
