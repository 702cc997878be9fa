"""Kafka as a Flink SQL table: the raw event source.

The table keeps each record's original bytes and its Kafka coordinates. Derived columns
(event time, validation) are passed in as SQL expressions, so they run in the JVM before the
watermark, which never waits on Python.
"""

from __future__ import annotations

from pyflink.table import StreamTableEnvironment

from jobs.settings import JobSettings, kafka_startup
from topk.windows import sql_interval


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def create_raw_events(t_env: StreamTableEnvironment, settings: JobSettings, computed: dict[str, str]) -> None:
    """Table ``raw_events``: ``value`` (bytes), ``kafka_ts``, ``partition``, ``offset``, the
    ``computed`` columns, and a watermark on the computed ``event_time``."""
    options = {**kafka_startup(settings.start_from), "properties.auto.offset.reset": "earliest"}
    options |= {f"properties.{k}": v for k, v in settings.kafka.java().items()}  # security, fetch limits
    if settings.bounded:
        options["scan.bounded.mode"] = "latest-offset"
    extra = "".join(f",\n          {sql_string(k)} = {sql_string(v)}" for k, v in options.items())
    derived = "".join(f"`{name}` AS {expr},\n" for name, expr in computed.items())
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE raw_events (
          `value` BYTES,
          `kafka_ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
          `partition` INT METADATA VIRTUAL,
          `offset` BIGINT METADATA VIRTUAL,
          {derived}
          WATERMARK FOR `event_time` AS `event_time` - {sql_interval(settings.out_of_orderness_ms)}
        ) WITH ('connector' = 'kafka', 'topic' = '{settings.topic}', 'format' = 'raw',
          'properties.bootstrap.servers' = {sql_string(settings.bootstrap_servers)},
          'properties.group.id' = {sql_string(settings.group_id)}{extra})
    """)
