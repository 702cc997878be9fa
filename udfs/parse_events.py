"""Parse and validate raw events in the JVM (Flink SQL), splitting good from bad.

Item per event type (``metadata.eventType``; missing means ``generic``)::

    page_view -> payload.url      product_view -> payload.productId
    search    -> payload.query    generic      -> payload.itemId

``payload.weight`` is an optional positive integer (default 1). Each bad record gets one
reason code, the first that applies, in the order of ``REASONS``.
"""

from __future__ import annotations

from pyflink.table import StreamTableEnvironment

from connectors.kafka_tables import PARSED_TIME, TEXT, TIMESTAMP_JSON, time_in_range
from jobs.settings import JobSettings

ITEM_FIELDS = {"page_view": "url", "product_view": "productId", "search": "query", "generic": "itemId"}
REASONS = (
    "not_utf8",
    "invalid_json",
    "not_an_object",
    "unknown_event_type",
    "missing_item",
    "item_too_long",
    "bad_weight",
    "missing_timestamp",
    "bad_timestamp",
    "timestamp_out_of_range",
)


def _json(path: str) -> str:
    return f"JSON_VALUE({TEXT}, '{path}')"


def _item() -> str:
    cases = " ".join(f"WHEN '{etype}' THEN {_json('$.payload.' + name)}" for etype, name in ITEM_FIELDS.items())
    return f"CASE COALESCE({_json('$.metadata.eventType')}, 'generic') {cases} END"


def create_parsed_views(t_env: StreamTableEnvironment, settings: JobSettings) -> None:
    """Views ``classified`` (every record + reason), ``valid_events`` and ``rejected_events``."""
    weight = _json("$.payload.weight")
    known_types = ", ".join(f"'{t}'" for t in ITEM_FIELDS)
    dims = "".join(f", {_json('$.payload.' + d)} AS `{d}`" for d in settings.dimensions)
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW classified AS
        SELECT *, CASE
            WHEN ENCODE({TEXT}, 'UTF-8') <> `value` THEN 'not_utf8'
            WHEN NOT ({TEXT} IS JSON) THEN 'invalid_json'
            WHEN NOT ({TEXT} IS JSON OBJECT) THEN 'not_an_object'
            WHEN COALESCE({_json("$.metadata.eventType")}, 'generic') NOT IN ({known_types}) THEN 'unknown_event_type'
            WHEN item IS NULL OR item = '' THEN 'missing_item'
            WHEN CHAR_LENGTH(item) > {settings.max_item_length} THEN 'item_too_long'
            WHEN weight IS NULL THEN 'bad_weight'
            WHEN {TIMESTAMP_JSON} IS NULL THEN 'missing_timestamp'
            WHEN ({PARSED_TIME}) IS NULL THEN 'bad_timestamp'
            WHEN NOT ({time_in_range(settings)}) THEN 'timestamp_out_of_range'
          END AS reason
        FROM (
          SELECT `value`, `kafka_ts`, `partition`, `offset`, `event_time`,
                 {_item()} AS item,
                 CASE WHEN {weight} IS NULL THEN CAST(1 AS BIGINT)
                      WHEN REGEXP({weight}, '^[1-9][0-9]{{0,17}}$')
                           AND CAST({weight} AS BIGINT) <= {settings.max_weight} THEN CAST({weight} AS BIGINT)
                 END AS weight{dims}
          FROM raw_events)
    """)
    t_env.execute_sql("CREATE TEMPORARY VIEW valid_events AS SELECT * FROM classified WHERE reason IS NULL")
    t_env.execute_sql("CREATE TEMPORARY VIEW rejected_events AS SELECT * FROM classified WHERE reason IS NOT NULL")
