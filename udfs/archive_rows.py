"""Every record of the topic, parsed, as the archive wants it: its Kafka coordinates, and either
the event's columns (``reason`` NULL) or the original bytes and why it was rejected.

Nothing is judged late here: the archive keeps every valid event, whatever the watermark.
"""

from __future__ import annotations

from pyflink.table import StreamTableEnvironment, Table


def archive_rows(t_env: StreamTableEnvironment, dimensions: tuple[str, ...]) -> Table:
    """Columns: partition, offset, kafka_ts, reason, event_id, event_type, tenant, item, weight, event_ms,
    one column per dimension, raw (NULL for valid events)."""
    dims = "".join(f", parsed.dims['{d}'] AS `{d}`" for d in dimensions)
    return t_env.sql_query(f"""
        SELECT `partition`, `offset`, kafka_ts, parsed.reason AS reason, parsed.event_id AS event_id,
               parsed.event_type AS event_type, parsed.tenant AS tenant, parsed.item AS item, parsed.weight AS weight,
               parsed.event_ms AS event_ms{dims},
               CASE WHEN parsed.reason IS NULL THEN CAST(NULL AS BYTES) ELSE `value` END AS `raw`
        FROM raw_events
    """)
