"""Parse and validate raw events in the JVM, once per record (``udfs/jvm/.../ParseEvent.java``).

Item per event type (``metadata.eventType``; missing means ``generic``)::

    page_view -> payload.url      product_view -> payload.productId
    search    -> payload.query    generic      -> payload.itemId

An item is a JSON string or number. ``payload.weight`` is an optional positive integer
(default 1). ``metadata.timestamp`` is epoch milliseconds or ISO-8601 with an offset. Each bad
record gets one reason code, the first that applies, in the order of ``REASONS``; a bad record
gets event time 0, so it can never move the watermark (and make good events late).

A valid event at or behind the current watermark is late: within ``--allowed-lateness-ms`` of
it, it goes to ``late_events`` (it updates and re-emits its windows); further behind, it is
rejected with reason ``late``.
"""

from __future__ import annotations

from pyflink.table import StreamTableEnvironment

from topk.settings import EventSettings
from topk.windows import sql_interval

REASONS = (
    "not_utf8",
    "invalid_json",
    "not_an_object",
    "bad_tenant",
    "unknown_event_type",
    "missing_item",
    "item_too_long",
    "bad_weight",  # also above the tenant's maxWeight (TenantGate)
    "missing_timestamp",
    "bad_timestamp",
    "timestamp_out_of_range",
    "over_quota",  # TenantGate: beyond the tenant's events per second
    "bad_config",  # TenantGate: a record of the tenant config topic it could not take (why: ``detail``)
    "late",  # decided here in SQL, not by ParseEvent
)
PARSED_COLUMNS = (  # of ``parsed_events``, in this order; ``udfs.tenant_gate`` adds the rest
    "`value`, kafka_ts, `partition`, `offset`, parsed.reason AS reason, parsed.item AS item, "
    "parsed.weight AS weight, parsed.dims AS dims, parsed.tenant AS tenant"
)


def register_functions(t_env: StreamTableEnvironment) -> None:
    t_env.create_java_temporary_system_function("parse_event", "topk.udfs.ParseEvent")


def computed_columns(events: EventSettings) -> dict[str, str]:
    """Source columns: ``parsed`` (reason, item, weight, event_ms, dims, event_id, event_type,
    tenant) and ``event_time``."""
    call = (
        f"parse_event(`value`, `kafka_ts`, '{','.join(events.dimensions)}', {events.max_item_length}, "
        f"CAST({events.max_weight} AS BIGINT), CAST({events.max_past_ms} AS BIGINT), "
        f"CAST({events.max_future_ms} AS BIGINT))"
    )
    return {"parsed": call, "event_time": f"TO_TIMESTAMP_LTZ(({call}).event_ms, 3)"}


def create_parsed_views(t_env: StreamTableEnvironment, allowed_lateness_ms: int) -> None:
    """Views over ``parsed_events`` (``udfs.tenant_gate``): ``valid_events`` and ``late_events``
    (event_time, tenant, item, weight, dims: the dimensions the event counts under, name -> value,
    capacity, cms_width, cms_depth: its summary's shape, config: its tenant's parameters) and
    ``rejected_events`` (the raw columns, ``reason``, ``detail``, ``topic``)."""
    columns = "event_time, tenant, item, weight, dims, capacity, cms_width, cms_depth, config"
    wm = "CURRENT_WATERMARK(event_time)"
    too_late = f"event_time <= {wm} - {sql_interval(allowed_lateness_ms)}"
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW valid_events AS SELECT {columns} FROM parsed_events
        WHERE reason IS NULL AND ({wm} IS NULL OR event_time > {wm})
    """)
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW late_events AS SELECT {columns} FROM parsed_events
        WHERE reason IS NULL AND event_time <= {wm} AND NOT ({too_late})
    """)
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW rejected_events AS
        SELECT `value`, kafka_ts, `partition`, `offset`, COALESCE(reason, 'late') AS reason, detail, topic, event_time
        FROM parsed_events WHERE reason IS NOT NULL OR {too_late}
    """)
