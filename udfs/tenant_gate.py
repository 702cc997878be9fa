"""Per-tenant parameters on every parsed event, in the JVM (``udfs/jvm/.../TenantGate.java``).

View ``parsed_events``: each record of the events topic once, parsed, with the columns ``value``,
``kafka_ts``, ``partition``, ``offset``, ``reason`` (null when valid), ``item``, ``weight``, ``dims``,
``tenant``, ``capacity``, ``cms_width``, ``cms_depth`` (the shape of its summary), ``config`` (its
tenant's parameters as JSON, null when the tenant has none), ``detail`` and ``topic`` (of a bad
config record), and ``event_time`` with the source's watermark.

With a config topic (``--config-topic``), the records of the topic (``tenant_configs``) are
broadcast to the gate: an event takes the version of its tenant's parameters in force at its event
time, which may reject it (``bad_weight`` above the tenant's maxWeight, ``over_quota``) or drop
dimensions its tenant does not count. Without one, every event has the job's parameters.

``preloaded`` is the config topic as read when the job was submitted: the gate starts with those
versions, so an event that reaches it before the broadcast input has delivered them (a fresh start, a
replay: both inputs are read at once) still takes the version the topic held for its time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment, Table

from topk.settings import EventSettings, SketchSettings, WindowSettings
from udfs.parse_events import PARSED_COLUMNS

GATED = "capacity, cms_width, cms_depth, config, detail, topic"  # the columns TenantGate adds


def create_parsed_events(
    t_env: StreamTableEnvironment,
    events: EventSettings,
    sketch: SketchSettings,
    windows: WindowSettings,
    config_topic: str,
    preloaded: Sequence[tuple[bytes | None, bytes | None, int]] = (),
) -> None:
    """View ``parsed_events`` over ``raw_events`` (and ``tenant_configs`` with a ``config_topic``, whose records
    ``preloaded`` holds as (key, value, timestamp ms) when the job is built)."""
    if not config_topic:
        t_env.execute_sql(f"""
            CREATE TEMPORARY VIEW parsed_events AS SELECT {PARSED_COLUMNS},
              {sketch.capacity} AS capacity, {sketch.cms_width} AS cms_width, {sketch.cms_depth} AS cms_depth,
              CAST(NULL AS STRING) AS config, CAST(NULL AS STRING) AS detail, CAST(NULL AS STRING) AS topic,
              event_time
            FROM raw_events
        """)
        return
    parsed = t_env.sql_query(f"SELECT {PARSED_COLUMNS}, event_time AS event_ts FROM raw_events")
    jvm = get_gateway().jvm
    job = jvm.topk.udfs.TenantConfig.Job(
        sketch.k,
        sketch.capacity,
        sketch.cms_width,
        sketch.cms_depth,
        ",".join(events.dimensions),
        ",".join(w.label for w in windows.specs),
        events.max_weight,
        sketch.alert_phi,
    )
    records = []
    for key, value, ts in preloaded:
        try:
            records.append({"key": key.decode(), "value": None if value is None else value.decode(), "ts": ts})
        except (AttributeError, UnicodeDecodeError):  # no key, or not UTF-8: dead-lettered by the gate
            continue
    gated = jvm.topk.udfs.TenantGate.gate(
        t_env._j_tenv,
        parsed._j_table,
        t_env.from_path("tenant_configs")._j_table,
        job,
        windows.base.size_ms,
        windows.allowed_lateness_ms,
        config_topic,
        json.dumps(records),
    )
    t_env.create_temporary_view("gated_events", Table(gated, t_env))
    columns = "`value`, kafka_ts, `partition`, `offset`, reason, item, weight, dims, tenant"
    t_env.execute_sql(f"CREATE TEMPORARY VIEW parsed_events AS SELECT {columns}, {GATED}, event_time FROM gated_events")
