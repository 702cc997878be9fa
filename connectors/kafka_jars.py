"""Where the Flink Kafka connector jars live (fetched by scripts/setup.sh)."""

from __future__ import annotations

import os
from pathlib import Path

JARS_DIR = Path(os.environ.get("TOPK_JARS_DIR", Path(__file__).resolve().parent.parent / ".jars"))
KAFKA_JARS = ("flink-connector-kafka.jar", "kafka-clients.jar")


def kafka_jar_urls() -> list[str]:
    """``file://`` URLs of the connector jars, for ``env.add_jars``; fails fast if missing."""
    paths = [JARS_DIR / name for name in KAFKA_JARS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"Kafka connector jars missing: {missing}; run scripts/setup.sh")
    return [p.resolve().as_uri() for p in paths]
