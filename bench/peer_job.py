"""The all-JVM peer: Flink SQL only (no Python function), the same windows and dimensions as the
job, exact Window Top-N per (window, dimension, value), into a blackhole sink. With --read-only it
only reads and parses the topic (JSON format, event time): the ceiling for any job on the machine.

python -m bench.peer_job --bootstrap-servers H:P --topic T --windows 1m,1h,1d [--dimensions region,eventType] --k 100
"""

from __future__ import annotations

import argparse

from pyflink.table import EnvironmentSettings, TableEnvironment

from jobs.jars import job_jar_urls
from topk.events import EVENT_TYPE, dimension_parts
from topk.settings import EventSettings
from topk.windows import parse_window, sql_interval


def value_of(dimension: str) -> str:
    """SQL for the value an event counts under (``topk.events.dimension_value``)."""
    parts = [
        "COALESCE(metadata.eventType, 'generic')" if p == EVENT_TYPE else f"payload.`{p}`"
        for p in dimension_parts(dimension)
    ]
    if len(parts) == 1:
        return parts[0]
    escaped = [f"REPLACE(REPLACE({p}, '\\', '\\\\'), '|', '\\|')" for p in parts]
    return "CONCAT(" + ", '|', ".join(escaped) + ")"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap-servers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--windows", default="1m,1h,1d")
    p.add_argument("--dimensions", default=",".join(EventSettings().dimensions))
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--parallelism", type=int, default=1)
    p.add_argument("--read-only", action="store_true", help="only read and parse the topic: the ceiling for any job")
    a = p.parse_args(argv)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    conf.set("table.local-time-zone", "UTC")
    conf.set("parallelism.default", str(a.parallelism))
    conf.set("pipeline.jars", ";".join(job_jar_urls()))
    dims = [d for d in a.dimensions.split(",") if d]
    read = ["url", "productId", "query", "itemId", "weight"]
    read += sorted({p for d in dims for p in dimension_parts(d) if p != EVENT_TYPE} - set(read))
    payload = ", ".join(f"`{f}` STRING" for f in read)
    ts = "metadata.`timestamp`"
    t_env.execute_sql(f"""
        CREATE TABLE events (
          metadata ROW<eventType STRING, `timestamp` STRING>,
          payload ROW<{payload}>,
          event_time AS CASE WHEN REGEXP({ts}, '^[0-9]+$') THEN TO_TIMESTAMP_LTZ(CAST({ts} AS BIGINT), 3)
            ELSE CAST(TO_TIMESTAMP(REPLACE(REPLACE({ts}, 'T', ' '), 'Z', ''), 'yyyy-MM-dd HH:mm:ss.SSS')
                 AS TIMESTAMP_LTZ(3)) END,
          WATERMARK FOR event_time AS event_time - {sql_interval(5000)}
        ) WITH ('connector' = 'kafka', 'topic' = '{a.topic}', 'format' = 'json',
          'json.ignore-parse-errors' = 'true', 'properties.bootstrap.servers' = '{a.bootstrap_servers}',
          'properties.group.id' = 'peer-{a.topic}', 'scan.startup.mode' = 'earliest-offset',
          'scan.bounded.mode' = 'latest-offset')
    """)
    if a.read_only:
        t_env.execute_sql("CREATE TABLE sink (ms BIGINT) WITH ('connector' = 'blackhole')")
        t_env.execute_sql("INSERT INTO sink SELECT UNIX_TIMESTAMP() FROM events WHERE event_time IS NOT NULL").wait()
        return
    item = """CASE metadata.eventType WHEN 'page_view' THEN payload.url WHEN 'product_view' THEN payload.productId
              WHEN 'search' THEN payload.query ELSE payload.itemId END"""
    parts = [f"SELECT event_time, {item} AS item, 'all' AS dim, 'all' AS val FROM events"]
    parts += [
        f"SELECT event_time, {item}, '{d}', {value_of(d)} FROM events WHERE {value_of(d)} IS NOT NULL" for d in dims
    ]
    t_env.execute_sql("CREATE TEMPORARY VIEW dimensioned AS " + " UNION ALL ".join(parts))
    t_env.execute_sql(
        "CREATE TABLE sink (w STRING, dim STRING, val STRING, item STRING, cnt BIGINT) WITH ('connector' = 'blackhole')"
    )
    statements = t_env.create_statement_set()
    for label in a.windows.split(","):
        size = sql_interval(parse_window(label).size_ms)
        statements.add_insert_sql(f"""
            INSERT INTO sink SELECT '{label}', dim, val, item, cnt FROM (
              SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, dim, val ORDER BY cnt DESC) AS rn
              FROM (SELECT window_start, window_end, dim, val, item, COUNT(*) AS cnt
                    FROM TABLE(TUMBLE(TABLE dimensioned, DESCRIPTOR(event_time), {size}))
                    GROUP BY window_start, window_end, dim, val, item))
            WHERE rn <= {a.k}
        """)
    statements.execute().wait()


if __name__ == "__main__":
    main()
