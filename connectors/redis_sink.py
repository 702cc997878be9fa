"""Window results to Redis sorted sets, one MULTI/EXEC per window result.

Keys, for window label W (``1m``, ``1h``, ``1d``, ``all``), dimension D, value V and the
window start in epoch minutes S (0 for the all-time view), under the prefix ``topk`` (the job's
``--redis-prefix``; a replay can write into a fresh one)::

    topk:W:D:V:S          ZSET  item -> estimated count        (read with ZREVRANGE ... WITHSCORES)
    topk:W:D:V:S:meta     HASH  windowStart, windowEnd, k, capacity, totalEvents, errorBound, guaranteed,
                                unlistedBound, lastUpdated
    topk:W:D:V:S:bounds   HASH  item -> "lower,upper,g"        (bounds on the true count; g 1: certainly in the
                                                                true top-K, see sketches.ranking)
    topk:W:D:V:S:summary  STRING the serialized sketch (sketches.HeavyHittersSketch), for range merges
    topk:W:D:V:index      ZSET  S -> S                         (the windows written, for range queries)

A rewrite replaces the whole window (DEL then ZADD), so replays are idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import redis
from pyflink.datastream import FlatMapFunction, RuntimeContext
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from udfs.window_result import WindowResult

MIN_TTL_S = 86_400
WRITE_RETRIES = 36  # about 5 minutes of outage before the write fails the task (and Flink restarts it)
TTL_WINDOWS = 48


DEFAULT_PREFIX = "topk"


def window_key(window: str, dimension: str, value: str, start_ms: int, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}:{window}:{dimension}:{value}:{start_ms // 60_000}"


def index_key(window: str, dimension: str, value: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}:{window}:{dimension}:{value}:index"


def ttl_seconds(window_ms: int) -> int | None:
    """Keep 48 windows, at least a day; the all-time view (size 0) never expires."""
    return max(MIN_TTL_S, TTL_WINDOWS * window_ms // 1000) if window_ms else None


def connect(url: str, decode_responses: bool = True, retries: int = 3) -> redis.Redis:
    """A client that retries with exponential backoff (0.1 s doubling, at most 10 s apart);
    ``decode_responses=False`` to read summaries (bytes)."""
    retry = Retry(ExponentialBackoff(cap=10, base=0.1), retries=retries)
    return redis.Redis.from_url(
        url, retry=retry, retry_on_error=[redis.ConnectionError, redis.TimeoutError], decode_responses=decode_responses
    )


def write_result(client: redis.Redis, r: WindowResult, window_ms: int, prefix: str = DEFAULT_PREFIX) -> None:
    key = window_key(r.window, r.dimension, r.value, r.window_start, prefix)
    meta = {
        "windowStart": r.window_start,
        "windowEnd": r.window_end,
        "k": r.k,
        "capacity": r.capacity,
        "totalEvents": r.total_events,
        "errorBound": r.error_bound,
        "guaranteed": sum(i.guaranteed for i in r.items),
        "unlistedBound": r.unlisted_bound,
        "lastUpdated": int(time.time() * 1000),
    }
    ttl = ttl_seconds(window_ms)
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(key, f"{key}:bounds")
        if r.items:
            pipe.zadd(key, {i.item: i.estimate for i in r.items})
            bounds = {i.item: f"{i.lower_bound},{i.upper_bound},{i.guaranteed:d}" for i in r.items}
            pipe.hset(f"{key}:bounds", mapping=bounds)
        pipe.hset(f"{key}:meta", mapping=meta)
        pipe.set(f"{key}:summary", r.summary)
        minute = r.window_start // 60_000
        pipe.zadd(index_key(r.window, r.dimension, r.value, prefix), {str(minute): minute})
        if ttl:
            for k in (key, f"{key}:bounds", f"{key}:meta", f"{key}:summary"):
                pipe.expire(k, ttl)
        pipe.execute()


class RedisWriter(FlatMapFunction):
    """Writes each ``WindowResult``; emits nothing."""

    def __init__(self, url: str, window_sizes_ms: dict[str, int], prefix: str) -> None:
        self.url, self.window_sizes_ms, self.prefix = url, window_sizes_ms, prefix
        self.client: redis.Redis | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.client = connect(self.url, retries=WRITE_RETRIES)

    def flat_map(self, value: WindowResult) -> Iterator[None]:
        write_result(self.client, value, self.window_sizes_ms[value.window], self.prefix)
        return iter(())

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
