"""Kafka as a Flink SQL table: the raw event source.

The source keeps each record's original bytes and derives event time in the JVM, so the
watermark never waits on Python. A record whose timestamp is missing, unparseable, or
outside ``[kafka_ts - max_past, kafka_ts + max_future]`` gets event time 0: it can never
advance the watermark, and the parse stage routes it to the dead-letter topic.
"""

from __future__ import annotations

from pyflink.table import StreamTableEnvironment

from jobs.settings import JobSettings

TEXT = "CAST(`value` AS STRING)"
TIMESTAMP_JSON = f"JSON_VALUE({TEXT}, '$.metadata.timestamp')"
# Epoch milliseconds (a JSON number or digit string) or ISO-8601 with zone, e.g. 2026-01-01T10:00:00.123Z.
PARSED_TIME = (
    f"CASE WHEN REGEXP({TIMESTAMP_JSON}, '^[0-9]{{1,15}}$') "
    f"THEN TO_TIMESTAMP_LTZ(CAST({TIMESTAMP_JSON} AS BIGINT), 3) "
    f"ELSE TO_TIMESTAMP_LTZ({TIMESTAMP_JSON}, 'yyyy-MM-dd''T''HH:mm:ss[.SSS]XXX') END"
)


def interval(ms: int) -> str:
    """A SQL day-time interval literal of ``ms`` milliseconds (Flink allows under 100 days)."""
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{rest / 1000:06.3f}' DAY TO SECOND(3)"


def time_in_range(settings: JobSettings) -> str:
    return (
        f"({PARSED_TIME}) BETWEEN `kafka_ts` - {interval(settings.max_past_ms)} "
        f"AND `kafka_ts` + {interval(settings.max_future_ms)}"
    )


def create_raw_events(t_env: StreamTableEnvironment, settings: JobSettings) -> None:
    """Table ``raw_events``: original bytes, Kafka coordinates, event time and watermark."""
    bounded = ", 'scan.bounded.mode' = 'latest-offset'" if settings.bounded else ""
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE raw_events (
          `value` BYTES,
          `kafka_ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
          `partition` INT METADATA VIRTUAL,
          `offset` BIGINT METADATA VIRTUAL,
          `event_time` AS CASE WHEN {time_in_range(settings)} THEN {PARSED_TIME}
                          ELSE TO_TIMESTAMP_LTZ(0, 3) END,
          WATERMARK FOR `event_time` AS `event_time` - {interval(settings.out_of_orderness_ms)}
        ) WITH ('connector' = 'kafka', 'topic' = '{settings.topic}', 'format' = 'raw',
          'properties.bootstrap.servers' = '{settings.bootstrap_servers}',
          'properties.group.id' = '{settings.group_id}',
          'scan.startup.mode' = 'group-offsets',
          'properties.auto.offset.reset' = 'earliest'{bounded})
    """)
