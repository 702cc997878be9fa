"""The event format's definitions every Python part shares: the payload field that holds the item,
per event type, and the tenant an event belongs to (``udfs/jvm/topk/udfs/ParseEvent.java`` reads
the same fields with the same rules in the JVM).

``metadata.tenantId`` names the tenant; absent or null means ``default``, so streams without
tenants keep their keys. A tenant id is ASCII letters, digits, ``_ . -`` (up to 64, not starting
with a punctuation mark): it goes into Redis keys, Cassandra partitions and archive paths as is.

A dimension is a payload field an event is grouped by (``region``), the built-in ``eventType`` (the
event's ``metadata.eventType``, ``generic`` when missing; a payload field of that name is not read),
or a combination of them joined by ``+`` (``region+eventType``). A combination's value is its parts'
values in the declared order joined by ``|``, each ``\\`` or ``|`` within a part escaped by a ``\\``
(``eu-west|product_view``), so no two combinations of values share one. An event is not counted
under a dimension it lacks (a combination: any part of), nor under one whose value (joined) is over
``MAX_VALUE_LENGTH`` characters (the query side takes no longer value).
"""

from __future__ import annotations

import re

EVENT_TYPE = "eventType"
DIMENSION_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_DIMENSION_PARTS = 8
MAX_VALUE_LENGTH = 256  # code points of a dimension's value (ParseEvent.java)
DIMENSION_RULE = "a name (up to 64 of A-Z a-z 0-9 _, not from a digit; not 'all') or up to 8 joined by '+', each once"
ITEM_FIELDS = {"page_view": "url", "product_view": "productId", "search": "query", "generic": "itemId"}

DEFAULT_TENANT = "default"
# Event times windows, keys and archive paths can hold (ms): 1970-01-01 to 9999-01-01, exclusive (ParseEvent.java)
EVENT_TIME_RANGE_MS = (0, 253_370_764_800_000)
TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
TENANT_RULE = "1 to 64 of A-Z a-z 0-9 _ . -, from a letter or digit"


def is_tenant(value: object) -> bool:
    """Whether ``value`` is a valid tenant id."""
    return isinstance(value, str) and TENANT_ID.fullmatch(value) is not None


def check_tenant(tenant: str) -> str:
    """``tenant`` if it is a valid tenant id; ``ValueError`` otherwise."""
    if not is_tenant(tenant):
        raise ValueError(f"bad tenant id {tenant!r}: {TENANT_RULE}")
    return tenant


def dimension_parts(dimension: str) -> tuple[str, ...]:
    """The names a dimension combines (one for a plain dimension)."""
    return tuple(dimension.split("+"))


def check_dimension(dimension: str) -> str:
    """``dimension`` if it is a valid dimension to group by; ``ValueError`` otherwise."""
    parts = dimension_parts(dimension)
    if (
        len(set(parts)) != len(parts)
        or len(parts) > MAX_DIMENSION_PARTS
        or any(not DIMENSION_PART.fullmatch(p) or p == "all" for p in parts)
    ):
        raise ValueError(f"bad dimension name {dimension!r}: {DIMENSION_RULE}")
    return dimension


def join_values(values: tuple[str, ...]) -> str:
    """A combination's value from its parts' values (``ParseEvent.joinValues`` in the JVM)."""
    return "|".join(v.replace("\\", "\\\\").replace("|", "\\|") for v in values)


def dimension_value(event: dict, dimension: str) -> str | None:
    """The value ``event`` (a parsed valid event: metadata, payload) counts under for ``dimension``;
    None when it lacks a part or the value is too long. Payload values are strings or integers, as the
    generator writes them."""
    values = []
    for part in dimension_parts(dimension):
        v = (event["metadata"].get(EVENT_TYPE) or "generic") if part == EVENT_TYPE else event["payload"].get(part)
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str):
            return None
        values.append(v)
    value = values[0] if len(values) == 1 else join_values(tuple(values))
    return value if len(value) <= MAX_VALUE_LENGTH else None
