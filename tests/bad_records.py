"""Every kind of bad record with the reason the job dead-letters it for (the job's integration test
and the API's validation test share it)."""

from __future__ import annotations

import json

from topk.times import iso

HOUR = 3_600_000


def bad_records(now_ms: int) -> dict[bytes, str]:
    def event(ts: object = now_ms, **payload: object) -> bytes:
        meta = {"eventType": payload.pop("etype", "generic"), "timestamp": ts}
        if "tenant" in payload:
            meta["tenantId"] = payload.pop("tenant")
        return json.dumps({"metadata": meta, "payload": payload}).encode()

    return {
        b"{not json": "invalid_json",
        b"\xff\xfe\x00 not utf-8": "not_utf8",
        b"[1, 2, 3]": "not_an_object",
        event(tenant="eu west", itemId="x"): "bad_tenant",
        event(tenant="../other", itemId="x"): "bad_tenant",
        event(tenant=42, itemId="x"): "bad_tenant",
        event(tenant="t" * 65, itemId="x"): "bad_tenant",
        event(etype="click", itemId="x"): "unknown_event_type",
        event(etype="page_view", productId="wrong-field"): "missing_item",
        event(itemId=""): "missing_item",
        event(itemId="x" * 5000): "item_too_long",
        event(itemId="x", weight="abc"): "bad_weight",
        event(itemId="x", weight=-3): "bad_weight",
        event(itemId="x", weight=10**15): "bad_weight",
        json.dumps({"metadata": {"eventType": "generic"}, "payload": {"itemId": "x"}}).encode(): "missing_timestamp",
        event(ts="yesterday", itemId="x"): "bad_timestamp",
        event(ts=now_ms + 10 * 24 * HOUR, itemId="x"): "too_far_ahead",
        event(ts=now_ms + 2 * 60_000, itemId="x"): "too_far_ahead",  # within the old hour, past the minute
        event(ts=iso(now_ms - 30 * 24 * HOUR), itemId="x"): "timestamp_out_of_range",
        event(itemId=float("nan")): "invalid_json",  # Python writes NaN; JSON has none
        event(ts=iso(now_ms).replace("T", " "), itemId="x"): "bad_timestamp",  # java.time wants the T
        event(ts=float(now_ms), itemId="x"): "bad_timestamp",
        event(itemId="x", weight=2.0): "bad_weight",
        event(itemId=True): "missing_item",
        event(itemId={"nested": "object"}): "missing_item",
    }
