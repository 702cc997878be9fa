"""Every record of the topic, parsed, as the archive wants it: its Kafka coordinates, and either
the event's columns (``reason`` NULL) or why it was rejected, its first bytes, its whole length and
its SHA-256 (``raw_excerpt``, in the JVM).

Nothing is judged late here: the archive keeps every valid event, whatever the watermark.
"""

from __future__ import annotations

from pyflink.table import StreamTableEnvironment, Table


def archive_rows(t_env: StreamTableEnvironment, dimensions: tuple[str, ...], raw_max_bytes: int) -> Table:
    """Columns: partition, offset, kafka_ts, reason, event_id, event_type, tenant, item, weight, event_ms,
    one column per dimension, raw (at most ``raw_max_bytes``), raw_length, raw_sha256 (the last three
    NULL for valid events)."""
    dims = "".join(f", parsed.dims['{d}'] AS `{d}`" for d in dimensions)
    return t_env.sql_query(f"""
        SELECT `partition`, `offset`, kafka_ts, parsed.reason AS reason, parsed.event_id AS event_id,
               parsed.event_type AS event_type, parsed.tenant AS tenant, parsed.item AS item, parsed.weight AS weight,
               parsed.event_ms AS event_ms{dims},
               excerpt.`raw` AS `raw`, excerpt.raw_length AS raw_length, excerpt.raw_sha256 AS raw_sha256
        FROM (
            SELECT *, CASE WHEN parsed.reason IS NULL THEN NULL ELSE raw_excerpt(`value`, {int(raw_max_bytes)}) END
                      AS excerpt
            FROM raw_events
        ) AS records
    """)
