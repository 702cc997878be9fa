"""The event format's one table every Python part shares: the payload field that holds the item,
per event type (``udfs/jvm/topk/udfs/ParseEvent.java`` reads the same fields in the JVM)."""

from __future__ import annotations

ITEM_FIELDS = {"page_view": "url", "product_view": "productId", "search": "query", "generic": "itemId"}
