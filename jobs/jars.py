"""The jars the job needs besides Flink's own, all built or fetched by scripts/setup.sh."""

from __future__ import annotations

import os
from pathlib import Path

JARS_DIR = Path(os.environ.get("TOPK_JARS_DIR", Path(__file__).resolve().parent.parent / ".jars"))
UDF_JAR = "topk-udfs.jar"  # our JVM functions, compiled from udfs/jvm
CONNECTOR_DIR = "job"  # the Kafka connector and kafka-clients, from Maven Central (jvm/pom.xml, profile job)


def job_jar_urls() -> list[str]:
    """``file://`` URLs for ``env.add_jars``; fails fast if any is missing."""
    connector = sorted((JARS_DIR / CONNECTOR_DIR).glob("*.jar"))
    udfs = JARS_DIR / UDF_JAR
    if not any(p.name.startswith("flink-connector-kafka") for p in connector) or not udfs.is_file():
        raise FileNotFoundError(f"jars missing in {JARS_DIR} (Kafka connector, {UDF_JAR}); run scripts/setup.sh")
    return [p.resolve().as_uri() for p in [*connector, udfs]]
