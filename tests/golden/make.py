"""Writes the golden files both languages' tests read (``tests/test_golden.py``, and the JUnit tests in
``tests/jvm``): what the Python side answers today, which the JVM must answer alike. Run it only to add
cases, and review the diff: a changed verdict is a changed format or rule.

    python -m tests.golden.make
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import mmh3
import numpy as np

from tests.bad_records import bad_records
from topk.events import ITEM_FIELDS, dimension_value
from topk.query.ingest import EventLimits, Rejected, _epoch_ms, validate
from topk.sketches import HeavyHittersSketch
from topk.sketches.count_min import DEFAULT_SEED
from topk.tenant_config import check

HERE = Path(__file__).resolve().parent
KAFKA_MS = 1_767_225_600_000  # 2026-01-01: every event is judged against this Kafka time (and clock)
DIMENSIONS = ("region", "eventType", "region+eventType", "shelf+region")
LIMITS = ("max_item_length", "max_weight", "max_past_ms", "max_future_ms")  # the job's, as the API checks them
TEXTS = [
    *("abcdefghijklmnopq"[:n] for n in (0, 1, 2, 3, 7, 8, 15, 16, 17)),  # every tail length around a block
    *("x" * n for n in (31, 32, 33)),
    "/page/1?x=1#top",
    "naïve ☃",
    "🚀" * 5,
    "e\u0301",
    "\x00nul",
    "query 7",
]


def hashes() -> list[dict]:
    """MurmurHash3 x64 128 of UTF-8 text, as the two signed 64-bit halves, for the Count-Min seed and 0."""
    out = []
    for text in TEXTS:
        for seed in (DEFAULT_SEED, 0):
            h1, h2 = mmh3.hash64(text.encode(), seed, signed=True)
            out.append({"text": text, "seed": seed, "h1": h1, "h2": h2})
    return out


def summaries() -> list[dict]:
    """Serialized sketches of streams from empty to far past capacity (narrow and wide counters, dense
    and sparse Count-Min tables, an item holding U+0000), with what they hold."""
    rng = np.random.default_rng(3)
    cases = [(8, 64, 2, []), (8, 64, 2, [("solo", 1)]), (4, 16, 3, [("a\x00b", 2), ("c", 1)])]
    for capacity, events, universe, big in ((16, 40, 30, 1), (16, 600, 200, 1), (64, 5_000, 2_000, 70_000)):
        ranks = rng.zipf(1.3, events) % universe
        cases.append((capacity, 256, 4, [(f"item-{r}", int(big if i % 97 == 0 else 1)) for i, r in enumerate(ranks)]))
    out = []
    for capacity, width, depth, stream in cases:
        sketch = HeavyHittersSketch(capacity, width, depth)
        for item, weight in stream:
            sketch.update(item, weight)
        ss = sketch.space_saving
        monitored = sorted((x.item, x.estimate, x.estimate - x.lower_bound) for x in ss.items())
        out.append(
            {
                "capacity": capacity,
                "width": width,
                "depth": depth,
                "total": ss.total_weight,
                "floor": ss.floor,
                "items": [list(m) for m in monitored],
                "table": sketch.count_min.table.ravel().tolist(),
                "bytes": sketch.serialize().hex(),
            }
        )
    return out


def events() -> list[dict]:
    """Raw records with the verdict the job gives them: a reason, or the item, weight, event time and
    dimensions (``DIMENSIONS``) it counts under."""
    records = list(bad_records(KAFKA_MS))
    meta = {"eventType": "product_view", "timestamp": KAFKA_MS - 5_000}
    for payload in [
        {"productId": "p-1", "region": "eu-west"},
        {"productId": 7, "region": "a|b", "shelf": 3, "weight": "12"},
        {"productId": "p-2", "region": "c\\", "shelf": "s|"},
        {"productId": "p-3", "region": True},
        {"productId": "p-4", "region": "r" * 300},
        {"productId": "p-5", "region": None, "shelf": ["x"]},
    ]:
        records.append(json.dumps({"metadata": meta, "payload": payload}).encode())
    records += [
        b'{"metadata": {"timestamp": "2025-12-31T23:59:50.5+00:00"}, "payload": {"itemId": "iso", "region": "x"}}',
        b'{"metadata": {"eventType": "search", "timestamp": 1767225599000}, "payload": {"query": "q", "weight": 3}}',
        b'{"metadata": {"eventType": "page_view", "timestamp": "1767225590000"}, "payload": {"url": "/a"}}',
    ]
    limits = EventLimits()
    out = []
    for raw in records:
        case: dict = {"raw": base64.b64encode(raw).decode()}
        try:
            event = validate(raw, KAFKA_MS, limits)
        except Rejected as rejected:
            out.append({**case, "reason": rejected.reason})
            continue
        payload, etype = event.get("payload") or {}, (event.get("metadata") or {}).get("eventType") or "generic"
        item = payload[ITEM_FIELDS[etype]]
        dims = {d: v for d in DIMENSIONS if (v := dimension_value(event, d)) is not None}
        when = _epoch_ms(event["metadata"]["timestamp"])
        verdict = {"reason": None, "item": str(item), "weight": int(payload.get("weight", 1)), "event_ms": when}
        out.append({**case, **verdict, "dims": dims})
    return out


# The job's settings the tenant configs are judged against (TenantConfig.Job), as its describe() writes them.
JOB = {
    "k": 100,
    "capacity": 1024,
    "cmsWidth": 2048,
    "cmsDepth": 5,
    "dimensions": ["region", "category", "eventType", "region+eventType"],
    "windows": ["1m", "1h", "1d", "all"],
    "maxWeight": 1_000_000,
    "quota": 0,
    "alertPhi": 0.0,
}
TENANT_CONFIGS = [  # (record value, or None for a deleted config; refused only by the job's settings)
    (None, False),
    ("{}", False),
    ('{"k": 5}', False),
    ('{"capacity": 256, "k": 10}', False),
    ('{"cmsWidth": 1024, "cmsDepth": 3}', False),
    ('{"cmsWidth": 8192}', False),
    ('{"dimensions": ["region", "region"]}', False),
    ('{"dimensions": []}', False),
    ('{"windows": ["1m"]}', False),
    ('{"maxWeight": 10, "quota": 500}', False),
    ('{"alertPhi": 0.05}', False),
    ('{"alertPhi": 0}', False),
    ('{"alertPhi": 0.001, "alertItems": ["a", "\u00e9t\u00e9"]}', False),
    (json.dumps({"alertItems": ["\U0001f600" * 1024]}), False),
    ('{"k": 0}', False),
    ('{"k": true}', False),
    ('{"k": 1.5}', False),
    ('{"k": 1e3}', False),
    ('{"capacity": 65537}', False),
    ('{"cmsDepth": 17}', False),
    ('{"cmsWidth": 262144, "cmsDepth": 4}', False),  # 2^20 counters: the most
    ('{"cmsWidth": 262144, "cmsDepth": 5}', False),
    ('{"k": 300, "capacity": 256}', False),
    ('{"windows": []}', False),
    ('{"alertPhi": 1}', False),
    ('{"alertPhi": 0.0001}', False),
    ('{"alertPhi": true}', False),
    ('{"alertItems": []}', False),
    (json.dumps({"alertItems": ["\U0001f600" * 1025]}), False),
    ('{"bogus": 1}', False),
    ('{"dimensions": "region"}', False),
    ("[1, 2]", False),
    ("{", False),
    ('{"cmsWidth": 3000}', True),
    ('{"cmsWidth": 524288}', True),  # with the job's depth 5: over 2^20 counters
    ('{"dimensions": ["shelf"]}', True),
    ('{"windows": ["5m"]}', True),
    ('{"maxWeight": 1000001}', True),
    ('{"k": 2000}', True),
    ('{"quota": 9223372036854775808}', True),
]


def tenant_configs() -> dict:
    """Tenant config records with the verdict each gets: from ``topk.tenant_config.check`` (Python, without
    the job's settings) and from the job (``TenantConfig.parse``, which refuses whatever Python refuses and
    what breaks its settings): the parameters it describes, every field filled in, or null when refused."""
    cases = []
    for value, refused_by_job in TENANT_CONFIGS:
        try:
            config = {} if value is None else json.loads(value)
            if not isinstance(config, dict):
                raise ValueError("not a JSON object")
            check(config)
            python = True
        except ValueError:
            python = False
        described = None
        if python and not refused_by_job:
            described = {"effective": 0, **JOB, **config}
            for name in ("dimensions", "windows"):
                described[name] = list(dict.fromkeys(described[name]))
            described["alertPhi"] = float(described["alertPhi"])
        cases.append({"value": value, "python": python, "described": described})
    return {"job": JOB, "cases": cases}


def main() -> None:
    files: dict[str, object] = {"murmur3.json": hashes(), "summaries.json": summaries(), "events.json": events()}
    limits = {f: getattr(EventLimits(), f) for f in LIMITS}
    files["events.json"] = {
        "kafka_ms": KAFKA_MS,
        "dimensions": DIMENSIONS,
        "limits": limits,
        "cases": files["events.json"],
    }
    files["tenant_configs.json"] = tenant_configs()
    for name, content in files.items():
        (HERE / name).write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
