"""Deterministic synthetic events: items of a stream shape (``topk.generator.shapes``: Zipf, bursty,
vocabulary turnover, adversarial order, real text) spread over event time.

The same arguments always give the same events, so tests and the demo can recompute
the exact counts that the pipeline's answers are checked against.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from topk.events import ITEM_FIELDS, check_tenant, dimension_value
from topk.generator import shapes
from topk.settings import setting
from topk.times import iso

EVENT_TYPES = ("page_view", "product_view", "search", "generic")
DIMENSION_VALUES = {
    "region": ("us-east", "us-west", "eu-west", "ap-south"),
    "category": ("books", "electronics", "music", "sports", "toys"),
}


@dataclass(frozen=True)
class StreamSpec:
    """Stream: which events are generated (the same flags always give the same events)."""

    events: int = setting(100_000, "how many events")
    universe: int = setting(10_000, "distinct items")
    skew: float = setting(1.1, "Zipf exponent")
    start_ms: int = setting(0, "event time of the first event, epoch ms")
    span_ms: int = setting(3_600_000, "events spread evenly over this much event time")
    jitter_ms: int = setting(2_000, "out-of-orderness; keep it below the job's --out-of-orderness-ms")
    seed: int = setting(42, "random seed")
    shape: str = setting("zipf", f"one of {', '.join(shapes.SHAPES)}; text sends every word as a search event")
    tenant: str = setting("", "metadata.tenantId of every event (empty: none, so the default tenant's)")

    def validate(self) -> StreamSpec:
        if self.shape not in shapes.SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}: {', '.join(shapes.SHAPES)}")
        if min(self.events, self.universe, self.span_ms) < 1 or min(self.jitter_ms, self.skew) < 0:
            raise ValueError("events, universe and span must be >= 1, jitter and skew >= 0")
        if self.tenant:
            check_tenant(self.tenant)
        return self


def item_name(event_type: str, rank: int) -> str:
    return {"page_view": f"/page/{rank}", "product_view": f"product-{rank}", "search": f"query {rank}"}.get(
        event_type, f"item-{rank}"
    )


def generate(spec: StreamSpec) -> Iterator[dict]:
    """Events in the seeds' schema; timestamps alternate between epoch ms and ISO-8601."""
    rng = np.random.default_rng(spec.seed)
    ranks = shapes.items(spec.shape, rng, spec.events, spec.universe, spec.skew)
    types = rng.integers(0, len(EVENT_TYPES), spec.events) if spec.shape != "text" else np.full(spec.events, 2)
    dims = {d: rng.integers(0, len(v), spec.events) for d, v in DIMENSION_VALUES.items()}
    jitter = rng.integers(0, spec.jitter_ms + 1, spec.events)
    step = spec.span_ms / spec.events
    for i in range(spec.events):
        ts = spec.start_ms + min(int(i * step) + int(jitter[i]), spec.span_ms - 1)
        etype = EVENT_TYPES[types[i]]
        when: int | str = ts if i % 2 else iso(ts)
        rank = ranks[i]
        payload = {ITEM_FIELDS[etype]: rank if isinstance(rank, str) else item_name(etype, rank)}
        payload.update({d: DIMENSION_VALUES[d][dims[d][i]] for d in DIMENSION_VALUES})
        metadata = {"eventId": f"{spec.seed}-{i}", "eventType": etype, "source": "generator", "timestamp": when}
        if spec.tenant:
            metadata["tenantId"] = spec.tenant
        yield {"metadata": metadata, "payload": payload}


def encode(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def event_time_ms(event: dict) -> int:
    ts = event["metadata"]["timestamp"]
    return ts if isinstance(ts, int) else int(datetime.fromisoformat(ts).timestamp() * 1000)


def exact_counts(
    events: Iterator[dict], window_ms: int, dimension: str = "all", value: str = "all"
) -> dict[int, Counter]:
    """Exact item counts per window start (``window_ms == 0``: one all-time window at 0)."""
    out: dict[int, Counter] = {}
    for e in events:
        if dimension != "all" and dimension_value(e, dimension) != value:
            continue
        ts = event_time_ms(e)
        start = ts - ts % window_ms if window_ms else 0
        item = e["payload"][ITEM_FIELDS[e["metadata"]["eventType"]]]
        out.setdefault(start, Counter())[item] += e["payload"].get("weight", 1)
    return out
