"""Kafka as a Flink SQL table: the raw event source.

The table keeps each record's original bytes and its Kafka coordinates. Derived columns
(event time, validation) are passed in as SQL expressions, so they run in the JVM before the
watermark, which never waits on Python.

The watermark follows, per partition, the newest of ``min(event time, Kafka timestamp, the reading
TaskManager's clock)`` over the records read, less ``--out-of-orderness-ms`` (Flink takes the lowest
over the partitions). So no record's own timestamp moves it past the Kafka timestamp it came with or
past the clock: a tenant that stamps its events ahead (up to ``--max-future-ms``), or whose events
are then refused (over its quota), makes nobody else's on-time events late. A record the parser
rejects has event time 0 and never moves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from topk.settings import setting
from topk.stores.kafka_client import KafkaSettings
from topk.times import parse_time_ms
from topk.windows import sql_interval

if TYPE_CHECKING:  # the job's settings are parsed (and checked before submit) without loading PyFlink
    from pyflink.table import StreamTableEnvironment


@dataclass(frozen=True)
class SourceSettings:
    """Source: where the job reads the topic from, and its watermark."""

    group_id: str = setting("topk-job", "the consumer group (the archive job appends -archive)")
    start_from: str = setting(
        "group",
        "where to read the topic from: group (committed offsets, else earliest), earliest, latest, "
        "timestamp:<epoch ms|ISO-8601>, offsets:<partition>=<offset>,... (replays)",
    )
    bounded: bool = setting(False, "stop at the topic's end offsets at start-up")
    out_of_orderness_ms: int = setting(5_000, "how far behind the newest event time the watermark stays")
    idle_timeout_ms: int = setting(
        0,
        "mark a Kafka partition idle after this long without records, so the watermark moves on "
        "without it (0: never). Events of a partition declared idle while it still has data arrive late.",
    )

    def validate(self) -> SourceSettings:
        kafka_startup(self.start_from)
        if self.out_of_orderness_ms < 0 or self.idle_timeout_ms < 0:
            raise ValueError("out-of-orderness and idle timeout must be >= 0")
        return self


def kafka_startup(start_from: str) -> dict[str, str]:
    """The Kafka SQL connector's startup options for ``--start-from``."""
    kind, _, arg = start_from.partition(":")
    if kind in ("group", "earliest", "latest") and not arg:
        return {"scan.startup.mode": {"group": "group-offsets"}.get(kind, f"{kind}-offset")}
    if kind == "timestamp" and arg:
        return {"scan.startup.mode": "timestamp", "scan.startup.timestamp-millis": str(parse_time_ms(arg))}
    if kind == "offsets" and re.fullmatch(r"\d+=\d+(,\d+=\d+)*", arg):
        parts = (p.split("=") for p in arg.split(","))
        offsets = ";".join(f"partition:{partition},offset:{offset}" for partition, offset in parts)
        return {"scan.startup.mode": "specific-offsets", "scan.startup.specific-offsets": offsets}
    raise ValueError(
        f"bad --start-from {start_from!r}: group, earliest, latest, timestamp:<epoch ms|ISO-8601> "
        "or offsets:<partition>=<offset>,..."
    )


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def create_raw_events(
    t_env: StreamTableEnvironment, kafka: KafkaSettings, source: SourceSettings, computed: dict[str, str]
) -> None:
    """Table ``raw_events``: ``value`` (bytes), ``kafka_ts``, ``partition``, ``offset``, the
    ``computed`` columns, and a watermark on the computed ``event_time``."""
    derived = "".join(f"`{name}` AS {expr},\n" for name, expr in computed.items())
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE raw_events (
          `value` BYTES,
          {_METADATA}
          {derived}
          WATERMARK FOR `event_time` AS
            LEAST(`event_time`, `kafka_ts`, CURRENT_TIMESTAMP) - {sql_interval(source.out_of_orderness_ms)}
        ) WITH ('topic' = {sql_string(kafka.topic)}, 'format' = 'raw',
          {_options(kafka, source.group_id, source.bounded, kafka_startup(source.start_from))})
    """)


def create_tenant_configs(t_env: StreamTableEnvironment, kafka: KafkaSettings, source: SourceSettings) -> None:
    """Table ``tenant_configs``: ``key`` (the tenant id), ``value`` (JSON; null: deleted), ``kafka_ts``,
    ``partition``, ``offset``: the whole config topic, from its start (a compacted topic holds each
    tenant's latest record), with consumer group ``<--group-id>-config``."""
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE tenant_configs (`key` BYTES, `value` BYTES, {_METADATA.rstrip(",")})
        WITH ('topic' = {sql_string(kafka.config_topic)}, 'key.format' = 'raw', 'key.fields' = 'key',
          'value.format' = 'raw', 'value.fields-include' = 'EXCEPT_KEY',
          {_options(kafka, f"{source.group_id}-config", source.bounded, kafka_startup("earliest"))})
    """)


_METADATA = """`kafka_ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
          `partition` INT METADATA VIRTUAL,
          `offset` BIGINT METADATA VIRTUAL,"""


def _options(kafka: KafkaSettings, group_id: str, bounded: bool, startup: dict[str, str]) -> str:
    """The Kafka connector's options of a source table (after ``topic`` and the format)."""
    options = {"connector": "kafka", "properties.bootstrap.servers": kafka.bootstrap_servers}
    options |= {"properties.group.id": group_id, **startup, "properties.auto.offset.reset": "earliest"}
    options |= {f"properties.{k}": v for k, v in kafka.client.java().items()}  # security, fetch limits
    if bounded:
        options["scan.bounded.mode"] = "latest-offset"
    return ",\n          ".join(f"{sql_string(k)} = {sql_string(v)}" for k, v in options.items())
