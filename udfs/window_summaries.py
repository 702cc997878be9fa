"""Bounded summaries per finest window and dimension value, built in the JVM.

Each valid event is counted once under ``("all", "all")`` and once per configured dimension it
carries, within its tenant. The result has one row per (window, tenant, dimension, value) whose ``summary`` column is a
serialized ``HeavyHittersSketch`` (``udfs/jvm/.../ItemSummary.java``) of the events' ``capacity`` and
Count-Min shape (the job's, or their tenant's: ``udfs.tenant_gate``; one per finest window, as is the
``config`` the row carries):
its state is O(capacity) whatever the number of distinct items, every item is hashed once, and
only the summary crosses into Python. The aggregate is mergeable, so the planner runs it in two
phases (a local pre-aggregate per subtask before the keyed exchange), which splits hot groups
such as ``all``/``all``.
"""

from __future__ import annotations

from pyflink.table import StreamTableEnvironment

from topk.settings import WindowSettings
from topk.windows import sql_interval


def by_dimension(events_view: str, windows: WindowSettings, max_values: int) -> str:
    """SQL: each event of ``events_view`` once under ``all`` and once per dimension it carries (a value
    past the first ``max_values`` of its tenant's dimension in a finest window: ``(other)``, ``GroupsOf.java``)."""
    window, lateness = f"CAST({windows.base.size_ms} AS BIGINT)", f"CAST({windows.allowed_lateness_ms} AS BIGINT)"
    call = f"groups_of(dims, tenant, event_time, CURRENT_WATERMARK(event_time), {window}, {lateness}, {max_values})"
    return (
        "SELECT event_time, tenant, item, weight, capacity, cms_width, cms_depth, config, g.dim, g.val "
        f"FROM {events_view}, LATERAL TABLE({call}) AS g"
    )


def summary_call(function: str) -> str:
    """SQL: ``function(item, weight, capacity, width, depth)`` with each event's summary shape."""
    return f"{function}(item, weight, capacity, cms_width, cms_depth)"


def create_window_summaries(t_env: StreamTableEnvironment, windows: WindowSettings, max_values: int) -> None:
    """View ``window_summaries``: tenant, dim, val, config, summary (BYTES), window_time; function
    ``item_summary_of``."""
    t_env.create_java_temporary_system_function("item_summary", "topk.udfs.ItemSummary")
    t_env.create_java_temporary_system_function("item_summary_of", "topk.udfs.ItemSummaryOf")
    t_env.create_java_temporary_system_function("groups_of", "topk.udfs.GroupsOf")
    t_env.execute_sql("CREATE TEMPORARY VIEW dimensioned AS " + by_dimension("valid_events", windows, max_values))
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW window_summaries AS
        SELECT tenant, dim, val, config, {summary_call("item_summary")} AS summary, window_time
        FROM TABLE(TUMBLE(TABLE dimensioned, DESCRIPTOR(event_time), {sql_interval(windows.base.size_ms)}))
        GROUP BY window_start, window_end, window_time, tenant, dim, val, config
    """)
