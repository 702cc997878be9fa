"""Parse and validate raw events in the JVM, once per record (``udfs/jvm/.../ParseEvent.java``).

Item per event type (``metadata.eventType``; missing means ``generic``)::

    page_view -> payload.url      product_view -> payload.productId
    search    -> payload.query    generic      -> payload.itemId

An item is a JSON string or number. ``payload.weight`` is an optional positive integer
(default 1). ``metadata.timestamp`` is epoch milliseconds or ISO-8601 with an offset, from 1970 to
9999-01-01, at most ``--max-past-ms`` behind the record's Kafka timestamp (else
``timestamp_out_of_range``) and at most ``--max-future-ms`` ahead of it (else ``too_far_ahead``).
Each bad record gets one reason code, the first that applies, in the order of ``REASONS``; a bad
record gets event time 0, so it can never move the watermark (and make good events late).

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
    "too_far_ahead",
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
    t_env.create_java_temporary_system_function("raw_excerpt", "topk.udfs.RawExcerpt")


def computed_columns(events: EventSettings) -> dict[str, str]:
    """Source columns: ``parsed`` (reason, item, weight, event_ms, dims, event_id, event_type,
    tenant) and ``event_time``."""
    call = (
        f"parse_event(`value`, `kafka_ts`, '{','.join(events.dimensions)}', {events.max_item_length}, "
        f"CAST({events.max_weight} AS BIGINT), CAST({events.max_past_ms} AS BIGINT), "
        f"CAST({events.max_future_ms} AS BIGINT))"
    )
    return {"parsed": call, "event_time": f"TO_TIMESTAMP_LTZ(({call}).event_ms, 3)"}


def create_parsed_views(t_env: StreamTableEnvironment, allowed_lateness_ms: int, dead_letter_max_bytes: int) -> None:
    """Views over ``parsed_events`` (``udfs.tenant_gate``): ``valid_events`` and ``late_events``
    (event_time, tenant, item, weight, dims: the dimensions the event counts under, name -> value,
    capacity, cms_width, cms_depth: its summary's shape, config: its tenant's parameters) and
    ``rejected_events`` (``raw``: at most ``dead_letter_max_bytes`` of the record, ``raw_length`` and
    ``raw_sha256`` of the whole, ``kafka_ts``, ``partition``, ``offset``, ``reason``, ``detail``, ``topic``)."""
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
        SELECT excerpt.`raw` AS `raw`, excerpt.raw_length AS raw_length, excerpt.raw_sha256 AS raw_sha256, kafka_ts,
          `partition`, `offset`, COALESCE(reason, 'late') AS reason, detail, topic, event_time
        FROM (SELECT *, raw_excerpt(`value`, {dead_letter_max_bytes}) AS excerpt FROM parsed_events)
        WHERE reason IS NOT NULL OR {too_late}
    """)
