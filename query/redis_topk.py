"""Read stored top-K windows back from Redis (the keys written by ``connectors.redis_sink``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from connectors.redis_sink import DEFAULT_PREFIX, index_key, window_key
from sketches import ItemCount
from sketches.ranking import top_k


@dataclass(frozen=True)
class StoredTopK:
    window: str
    dimension: str
    value: str
    window_start: int
    window_end: int
    total_events: int
    error_bound: int
    items: list[ItemCount]


def utc_minute(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def window_starts(
    client: redis.Redis, window: str, dimension: str, value: str, prefix: str = DEFAULT_PREFIX
) -> list[int]:
    """Window starts (epoch ms) written for this view, newest first."""
    return [int(m) * 60_000 for m in client.zrevrange(index_key(window, dimension, value, prefix), 0, -1)]


def read_topk(
    client: redis.Redis, window: str, dimension: str, value: str, start_ms: int, k: int, prefix: str = DEFAULT_PREFIX
) -> StoredTopK | None:
    """The stored top-``k`` of one window, with bounds; None if absent (never written, or expired).
    ``guaranteed`` is decided for these ``k`` (the stored items after them count as left out);
    windows written before the flag existed (no ``unlistedBound``) have none guaranteed."""
    key = window_key(window, dimension, value, start_ms, prefix)
    with client.pipeline(transaction=True) as pipe:
        pipe.hgetall(f"{key}:meta")
        pipe.hgetall(f"{key}:bounds")
        meta, bounds = pipe.execute()
    if not meta:
        return None
    stored = []
    for item, text in bounds.items():
        lower, upper = (int(b) for b in text.split(",")[:2])
        stored.append(ItemCount(item, upper, lower, upper))
    unlisted = int(meta["unlistedBound"]) if "unlistedBound" in meta else float("inf")
    return StoredTopK(
        window, dimension, value, int(meta["windowStart"]), int(meta["windowEnd"]),
        int(meta["totalEvents"]), int(meta["errorBound"]), list(top_k(stored, k, unlisted).items),
    )  # fmt: skip
