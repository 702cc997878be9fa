"""Exact per-item counts per finest window, computed in the JVM and batched per dimension value.

Each valid event is counted once under ``("all", "all")`` and once per configured dimension
it carries. The result has one row per (window, dimension, value) whose ``counts`` column is
a JSON object ``{item: exact count}`` (``udfs/jvm/.../ItemCounts.java``: one accumulator per
window and dimension value, so keyed state is read and written once per group, not per item).
Only these rows cross into Python, not single events.
(JSON, not two ARRAY columns: PyFlink 2.3 cannot type ARRAY columns from ``to_data_stream``.)
"""

from __future__ import annotations

from pyflink.table import StreamTableEnvironment

from connectors.kafka_tables import interval
from jobs.settings import JobSettings


def by_dimension(events_view: str, settings: JobSettings) -> str:
    """SQL: each event of ``events_view`` once under ``all`` and once per dimension it carries."""
    parts = [f"SELECT event_time, item, weight, 'all' AS dim, 'all' AS val FROM {events_view}"]
    parts += [
        f"SELECT event_time, item, weight, '{d}', `{d}` FROM {events_view} WHERE `{d}` IS NOT NULL"
        for d in settings.dimensions
    ]
    return " UNION ALL ".join(parts)


def create_window_counts(t_env: StreamTableEnvironment, settings: JobSettings) -> None:
    """View ``window_counts``: dim, val, counts (JSON), window_time."""
    t_env.create_java_temporary_system_function("item_counts", "topk.udfs.ItemCounts")
    t_env.execute_sql("CREATE TEMPORARY VIEW dimensioned AS " + by_dimension("valid_events", settings))
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW window_counts AS
        SELECT dim, val, item_counts(item, weight) AS counts, window_time
        FROM TABLE(TUMBLE(TABLE dimensioned, DESCRIPTOR(event_time), {interval(settings.base_window.size_ms)}))
        GROUP BY window_start, window_end, window_time, dim, val
    """)
