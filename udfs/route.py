"""One stream out of the SQL stage, so the topic is read and parsed once.

``to_data_stream`` plans each call separately (each with its own Kafka source), so the two
outputs of the SQL stage travel together, told apart by ``kind``:

* ``summary``:     tenant, dim, val, config, summary (a serialized sketch of the finest window), row_time =
                   window end - 1 ms
* ``late``:        one late (but allowed) event per dimension value: tenant, dim, val, config, summary (a sketch
                   of that event), row_time = event time; only with allowed lateness
* ``dead_letter``: reason, partition, offset, kafka_ts, raw (the record's first bytes), raw_length and
                   raw_sha256 (of the whole record), detail, topic (a bad config record's), row_time = event time

``config`` is the tenant's parameters in force (``udfs.tenant_gate``), null when it has none.
"""

from __future__ import annotations

from pyflink.datastream import DataStream
from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment, Table

from topk.settings import WindowSettings
from udfs.window_summaries import by_dimension, create_window_summaries, summary_call

SUMMARY = "summary"
LATE = "late"
DEAD_LETTER = "dead_letter"
NO_DEAD_LETTER = (  # the dead-letter columns of the other kinds
    "CAST(NULL AS STRING) AS reason, CAST(NULL AS INT) AS `partition`, CAST(NULL AS BIGINT) AS `offset`, "
    "CAST(NULL AS TIMESTAMP_LTZ(3)) AS kafka_ts, CAST(NULL AS BYTES) AS `raw`, CAST(NULL AS INT) AS raw_length, "
    "CAST(NULL AS STRING) AS raw_sha256, CAST(NULL AS STRING) AS detail, CAST(NULL AS STRING) AS topic"
)


def routed_table(t_env: StreamTableEnvironment, windows: WindowSettings, max_values: int) -> Table:
    create_window_summaries(t_env, windows, max_values)
    late = (
        f"""SELECT '{LATE}', tenant, dim, val, config, {summary_call("item_summary_of")}, {NO_DEAD_LETTER}, event_time
        FROM ({by_dimension("late_events", windows, max_values)})
        UNION ALL"""
        if windows.allowed_lateness_ms
        else ""
    )
    return t_env.sql_query(f"""
        SELECT '{SUMMARY}' AS kind, tenant, dim, val, config, summary, {NO_DEAD_LETTER}, window_time AS row_time
        FROM window_summaries
        UNION ALL
        {late}
        SELECT '{DEAD_LETTER}', CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS STRING),
               CAST(NULL AS STRING), CAST(NULL AS BYTES), reason, `partition`, `offset`, kafka_ts, `raw`, raw_length,
               raw_sha256, detail, topic, event_time
        FROM rejected_events
    """)


def values_per_window(rows: DataStream, max_values: int, windows: WindowSettings) -> DataStream:
    """``rows`` (summary and late rows) with at most ``max_values`` values of a tenant's dimension per finest
    window, the rest folded into one ``(other)`` row, in the JVM (``ValuesPerWindow.java``)."""
    limit = get_gateway().jvm.topk.udfs.ValuesPerWindow.limit
    return DataStream(limit(rows._j_data_stream, max_values, windows.base.size_ms, windows.allowed_lateness_ms))


def of_kind(routed: DataStream, *kinds: str) -> DataStream:
    """The rows of ``routed`` of these kinds, filtered in the JVM (``KindIs.java``): a Python filter
    would take every row of the stream into its worker to drop most of them."""
    kind_is = get_gateway().jvm.topk.udfs.KindIs(",".join(kinds))
    return DataStream(routed._j_data_stream.filter(kind_is).name(f"kind {'|'.join(kinds)}"))
