"""The event format's definitions every Python part shares: the payload field that holds the item,
per event type, and the tenant an event belongs to (``udfs/jvm/topk/udfs/ParseEvent.java`` reads
the same fields with the same rules in the JVM).

``metadata.tenantId`` names the tenant; absent or null means ``default``, so streams without
tenants keep their keys. A tenant id is ASCII letters, digits, ``_ . -`` (up to 64, not starting
with a punctuation mark): it goes into Redis keys, Cassandra partitions and archive paths as is.
"""

from __future__ import annotations

import re

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
