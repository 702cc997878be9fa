"""Parse and validate raw events in the JVM (Flink SQL), splitting good from bad.

Item per event type (``metadata.eventType``; missing means ``generic``)::

    page_view -> payload.url      product_view -> payload.productId
    search    -> payload.query    generic      -> payload.itemId

``payload.weight`` is an optional positive integer (default 1). ``metadata.timestamp`` is
epoch milliseconds or ISO-8601 with a zone. Each bad record gets one reason code, the first
that applies, in the order of ``REASONS``; a bad record gets event time 0, so it can never
move the watermark (and make good events late).

``not_utf8`` is detected as U+FFFD in the decoded text (what decoding puts for bad bytes; not
``ENCODE``, which Flink 2.3 cannot compile into a watermark), so text that already carries
U+FFFD is rejected too.
"""

from __future__ import annotations

from pyflink.table import StreamTableEnvironment

from connectors.kafka_tables import interval
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

TEXT = "CAST(`value` AS STRING)"


def _json(path: str) -> str:
    return f"JSON_VALUE({TEXT}, '{path}')"


EVENT_TYPE = f"COALESCE({_json('$.metadata.eventType')}, 'generic')"
_ITEM_CASES = " ".join(f"WHEN '{t}' THEN {_json('$.payload.' + f)}" for t, f in ITEM_FIELDS.items())
ITEM = f"CASE {EVENT_TYPE} {_ITEM_CASES} END"
WEIGHT_TEXT = _json("$.payload.weight")
TIMESTAMP_TEXT = _json("$.metadata.timestamp")
PARSED_TIME = (
    f"CASE WHEN REGEXP({TIMESTAMP_TEXT}, '^[0-9]{{1,15}}$') "
    f"THEN TO_TIMESTAMP_LTZ(CAST({TIMESTAMP_TEXT} AS BIGINT), 3) "
    f"ELSE TO_TIMESTAMP_LTZ({TIMESTAMP_TEXT}, 'yyyy-MM-dd''T''HH:mm:ss[.SSS]XXX') END"
)


def weight(settings: JobSettings) -> str:
    """The weight, or NULL if present but not an integer in ``1..max_weight``."""
    return (
        f"CASE WHEN {WEIGHT_TEXT} IS NULL THEN CAST(1 AS BIGINT) "
        f"WHEN REGEXP({WEIGHT_TEXT}, '^[1-9][0-9]{{0,17}}$') "
        f"AND CAST({WEIGHT_TEXT} AS BIGINT) <= {settings.max_weight} "
        f"THEN CAST({WEIGHT_TEXT} AS BIGINT) END"
    )


def reason(settings: JobSettings) -> str:
    """NULL for a good record, else the first reason code that applies."""
    known_types = ", ".join(f"'{t}'" for t in ITEM_FIELDS)
    return f"""CASE
        WHEN POSITION(U&'\\FFFD' IN {TEXT}) > 0 THEN 'not_utf8'
        WHEN NOT ({TEXT} IS JSON) THEN 'invalid_json'
        WHEN NOT ({TEXT} IS JSON OBJECT) THEN 'not_an_object'
        WHEN {EVENT_TYPE} NOT IN ({known_types}) THEN 'unknown_event_type'
        WHEN ({ITEM}) IS NULL OR ({ITEM}) = '' THEN 'missing_item'
        WHEN CHAR_LENGTH({ITEM}) > {settings.max_item_length} THEN 'item_too_long'
        WHEN ({weight(settings)}) IS NULL THEN 'bad_weight'
        WHEN {TIMESTAMP_TEXT} IS NULL THEN 'missing_timestamp'
        WHEN ({PARSED_TIME}) IS NULL THEN 'bad_timestamp'
        WHEN ({PARSED_TIME}) NOT BETWEEN `kafka_ts` - {interval(settings.max_past_ms)}
             AND `kafka_ts` + {interval(settings.max_future_ms)} THEN 'timestamp_out_of_range'
      END"""


def computed_columns(settings: JobSettings) -> dict[str, str]:
    """Columns of the source table: ``reason`` and ``event_time`` (0 for bad records)."""
    return {
        "reason": reason(settings),
        "event_time": f"CASE WHEN ({reason(settings)}) IS NULL THEN {PARSED_TIME} ELSE TO_TIMESTAMP_LTZ(0, 3) END",
    }


def create_parsed_views(t_env: StreamTableEnvironment, settings: JobSettings) -> None:
    """Views ``valid_events`` (event_time, item, weight, dimensions) and ``rejected_events``."""
    dims = "".join(f", {_json('$.payload.' + d)} AS `{d}`" for d in settings.dimensions)
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW valid_events AS
        SELECT event_time, {ITEM} AS item, {weight(settings)} AS weight{dims}
        FROM raw_events WHERE reason IS NULL
    """)
    t_env.execute_sql("CREATE TEMPORARY VIEW rejected_events AS SELECT * FROM raw_events WHERE reason IS NOT NULL")
