"""Window results in Redis: written by the job (a bundle's results in one MULTI/EXEC), read by the
query side. No Flink here: the job's sink (``connectors.redis_sink``) is a thin shell over it.

Keys, for window label W (``1m``, ``1h``, ``1d``, ``all``), dimension D, value V and the
window start in epoch minutes S (0 for the all-time view), under the prefix ``topk`` (the job's
``--redis-prefix``; a replay can write into a fresh one) for the ``default`` tenant, and
``topk/T`` for tenant T (``tenant_prefix``: ``/`` is in no prefix, so no tenant's keys can be
another's)::

    {topk:W:D:V}:S          ZSET  item -> estimated count    (read with ZREVRANGE ... WITHSCORES)
    {topk:W:D:V}:S:meta     HASH  tenant, windowStart, windowEnd, k, capacity, totalEvents, errorBound, guaranteed,
                                  unlistedBound, lastUpdated, params (the tenant's parameters it was made with,
                                  topk.tenant_config; absent: the job's)
    {topk:W:D:V}:S:bounds   HASH  item -> "lower,upper,g"    (bounds on the true count; g 1: certainly in the
                                                              true top-K, see topk.sketches.ranking)
    {topk:W:D:V}:S:summary  STRING the serialized sketch (sketches.HeavyHittersSketch), for range merges
    {topk:W:D:V}:index      ZSET  S -> S                     (the windows written, for range queries)

``{topk:W:D:V}`` is a Redis Cluster hash tag: every key of one view (window size, dimension, value)
lives in one slot, so a window's write is one MULTI/EXEC with its index entry, on a cluster as on a
single server, and a range query reads one node.

A rewrite replaces the whole window (DEL then ZADD), so replays are idempotent.

Expiry: a window's keys live 48 windows (at least a day) after they are written, and never past
the window's retention (``WindowSpec.expires_at``, event time); an all-time view's keys live its
retention from the end of the last window it took in; a window already past it is not written.
The index lists the windows written and still retained (in Redis or, for older ones, Cassandra):
it is the catalogue the query side tiles ranges with, trimmed at every write, and it expires with
the newest window it lists, so a view that is no longer written leaves no key behind.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis
from redis.backoff import ExponentialBackoff
from redis.client import Pipeline
from redis.cluster import RedisCluster
from redis.retry import Retry

from topk.events import DEFAULT_TENANT
from topk.settings import setting
from topk.sketches import ItemCount
from topk.sketches.ranking import top_k
from topk.stores.secrets import secret
from topk.window_result import WindowResult
from topk.windows import WindowSpec

CLUSTER = "+cluster"
SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster")
MIN_TTL_S = 86_400
TTL_WINDOWS = 48
DEFAULT_PREFIX = "topk"
PREFIX = re.compile(r"[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)*")


@dataclass(frozen=True)
class RedisSettings:
    """Redis: where the results are, under which key prefix."""

    FLAG_PREFIX = "redis-"
    url: str = setting(
        "redis://127.0.0.1:6379/0",
        "redis://, rediss:// (TLS; ?ssl_ca_certs=PATH), redis+cluster:// or rediss+cluster://; "
        "user and password from TOPK_REDIS_USERNAME / TOPK_REDIS_PASSWORD (or *_FILE)",
    )
    prefix: str = setting(DEFAULT_PREFIX, "the key namespace (a replay can write into a fresh one)")

    def validate(self) -> RedisSettings:
        check_url(self.url)
        if not PREFIX.fullmatch(self.prefix):
            raise ValueError(f"bad Redis prefix {self.prefix!r}: letters, digits, _ . - separated by ':'")
        return self


def tenant_prefix(prefix: str, tenant: str) -> str:
    """The key prefix of ``tenant``'s results: ``prefix`` itself for the default tenant."""
    return prefix if tenant == DEFAULT_TENANT else f"{prefix}/{tenant}"


def view_tag(window: str, dimension: str, value: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The hash tag all keys of one view share. A ``}`` inside ``value`` ends the tag early, at the
    same place in every key of the view, so they still share a slot."""
    return f"{{{prefix}:{window}:{dimension}:{value}}}"


def window_key(window: str, dimension: str, value: str, start_ms: int, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{view_tag(window, dimension, value, prefix)}:{start_ms // 60_000}"


def index_key(window: str, dimension: str, value: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{view_tag(window, dimension, value, prefix)}:index"


def ttl_seconds(window: WindowSpec, end_ms: int, now_ms: int) -> int | None:
    """Seconds the keys of the window ending at ``end_ms`` live when written at ``now_ms``: 48 windows,
    at least a day (an all-time view: no such bound), never past its retention (0 or less: expired).
    None: never."""
    left = window.seconds_left(end_ms, now_ms)
    if window.is_all_time:
        return left
    hot = max(MIN_TTL_S, TTL_WINDOWS * window.size_ms // 1000)
    return hot if left is None else min(hot, left)


def connect(url: str, decode_responses: bool = True, retries: int = 3) -> redis.Redis | RedisCluster:
    """A client for ``url`` that retries with exponential backoff (0.1 s doubling, at most 10 s apart);
    ``decode_responses=False`` to read summaries (bytes).

    ``redis://host:port/db`` a server, ``rediss://`` over TLS (``?ssl_ca_certs=/path/ca.pem`` to trust
    a private CA), ``redis+cluster://host:port`` (or ``rediss+cluster://``) a Redis Cluster reached
    through any of its nodes. User and password: ``REDIS_USERNAME`` / ``REDIS_PASSWORD``
    (``topk.stores.secrets``), never in the URL."""
    scheme, rest = check_url(url)
    options: dict = {"decode_responses": decode_responses}
    for option, name in (("username", "REDIS_USERNAME"), ("password", "REDIS_PASSWORD")):
        if value := secret(name):
            options[option] = value
    retry = Retry(ExponentialBackoff(cap=10, base=0.1), retries=retries)
    if scheme.endswith(CLUSTER):
        plain = f"{scheme.removesuffix(CLUSTER)}://{rest}"
        return RedisCluster.from_url(plain, retry=retry, cluster_error_retry_attempts=retries, **options)
    return redis.Redis.from_url(url, retry=retry, retry_on_error=[redis.ConnectionError, redis.TimeoutError], **options)


def check_url(url: str) -> tuple[str, str]:
    """``url``'s scheme and the rest; ``ValueError`` for an unknown scheme or credentials in the URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError(f"bad Redis URL {url!r}: {', '.join(s + '://' for s in SCHEMES)}")
    if "@" in rest.split("/", 1)[0]:
        raise ValueError("Redis URL with credentials: set TOPK_REDIS_USERNAME / TOPK_REDIS_PASSWORD instead")
    return scheme, rest


def transaction(client: redis.Redis | RedisCluster, key: str) -> Pipeline:
    """A MULTI/EXEC pipeline for keys that share ``key``'s hash slot; on a cluster, on the node that
    serves the slot (redis-py 5 has no cluster transactions; apache-beam pins it below 6)."""
    if isinstance(client, RedisCluster):
        return client.get_node_from_key(key).redis_connection.pipeline(transaction=True)
    return client.pipeline(transaction=True)


def write_results(
    client: redis.Redis | RedisCluster,
    results: Sequence[WindowResult],
    windows: Mapping[str, WindowSpec],
    prefix: str = DEFAULT_PREFIX,
) -> None:
    """Write ``results`` in order, each replacing its window: on one server all in one MULTI/EXEC
    (one round trip); on a cluster one MULTI/EXEC per result, on the node serving its view's slot
    (a transaction stays in one slot)."""
    now = int(time.time() * 1000)
    batches = [[r] for r in results] if isinstance(client, RedisCluster) else [list(results)]
    for batch in filter(None, batches):
        first = batch[0]
        tag = view_tag(first.window, first.dimension, first.value, tenant_prefix(prefix, first.tenant))
        with transaction(client, tag) as pipe:
            for r in batch:
                _queue_result(pipe, r, windows[r.window], prefix, now)
            pipe.execute()


def write_result(client: redis.Redis, r: WindowResult, window: WindowSpec, prefix: str = DEFAULT_PREFIX) -> None:
    write_results(client, [r], {r.window: window}, prefix)


def _queue_result(pipe: Pipeline, r: WindowResult, window: WindowSpec, prefix: str, now: int) -> None:
    ttl = ttl_seconds(window, r.window_end, now)
    if ttl is not None and ttl <= 0:
        return  # past its retention already (a replay of old events): not kept
    prefix = tenant_prefix(prefix, r.tenant)
    key = window_key(r.window, r.dimension, r.value, r.window_start, prefix)
    meta = {
        "tenant": r.tenant,
        "windowStart": r.window_start,
        "windowEnd": r.window_end,
        "k": r.k,
        "capacity": r.capacity,
        "totalEvents": r.total_events,
        "errorBound": r.error_bound,
        "guaranteed": sum(i.guaranteed for i in r.items),
        "unlistedBound": r.unlisted_bound,
        "lastUpdated": now,
    }
    if r.params:
        meta["params"] = r.params
    pipe.delete(key, f"{key}:bounds", f"{key}:meta")
    if r.items:
        pipe.zadd(key, {i.item: i.estimate for i in r.items})
        bounds = {i.item: f"{i.lower_bound},{i.upper_bound},{i.guaranteed:d}" for i in r.items}
        pipe.hset(f"{key}:bounds", mapping=bounds)
    pipe.hset(f"{key}:meta", mapping=meta)
    pipe.set(f"{key}:summary", r.summary)
    minute, index = r.window_start // 60_000, index_key(r.window, r.dimension, r.value, prefix)
    pipe.zadd(index, {str(minute): minute})
    since = window.retained_since(now)
    if since is not None and not window.is_all_time:
        pipe.zremrangebyscore(index, "-inf", f"({-(-since // 60_000)}")  # windows past their retention
    if ttl:
        for k in (key, f"{key}:bounds", f"{key}:meta", f"{key}:summary"):
            pipe.expire(k, ttl)
    kept = window.seconds_left(r.window_end, now)
    if kept is not None:  # the index lives as long as the newest window it lists: set once, then only raised
        pipe.expire(index, kept, nx=True)
        pipe.expire(index, kept, gt=True)


def summaries(
    client: redis.Redis | RedisCluster, tiles: list[tuple[str, int]], dimension: str, value: str, prefix: str
) -> list[bytes | None]:
    """The stored summaries of windows ``(label, start ms)``, None where absent; one round trip per
    node (the windows of a range span views, so slots: on a cluster, one MGET per node)."""
    keys = [window_key(w, dimension, value, s, prefix) + ":summary" for w, s in tiles]
    if not keys:
        return []
    return client.mget_nonatomic(keys) if isinstance(client, RedisCluster) else client.mget(keys)


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


def window_starts(
    client: redis.Redis, window: str, dimension: str, value: str, prefix: str = DEFAULT_PREFIX, newest: int = 0
) -> list[int]:
    """Window starts (epoch ms) written for this view, newest first: the ``newest`` ones (0: all)."""
    index = index_key(window, dimension, value, prefix)
    return [int(m) * 60_000 for m in client.zrevrange(index, 0, newest - 1)]


def newest_written(
    client: redis.Redis, windows: list[str], dimension: str, value: str, prefix: str = DEFAULT_PREFIX
) -> tuple[int, int] | None:
    """End and write time (epoch ms) of the newest window in Redis of the first of ``windows`` (finest
    first) that has one for this view; None if none. Two round trips."""
    with client.pipeline(transaction=False) as pipe:
        for w in windows:
            pipe.zrevrange(index_key(w, dimension, value, prefix), 0, 0)
        newest = pipe.execute()
    for w, minutes in zip(windows, newest, strict=True):
        for minute in minutes:
            end, updated = client.hmget(
                window_key(w, dimension, value, int(minute) * 60_000, prefix) + ":meta", "windowEnd", "lastUpdated"
            )
            if end is not None and updated is not None:
                return int(end), int(updated)
    return None


def written(
    client: redis.Redis, windows: list[str], dimension: str, value: str, lo: int, hi: int, prefix: str = DEFAULT_PREFIX
) -> dict[str, list[int]]:
    """The catalogue: starts (epoch ms, ascending) of the windows of each size written and still
    retained, with a start in ``[lo, hi)``; one round trip."""
    with client.pipeline(transaction=False) as pipe:
        for w in windows:
            pipe.zrangebyscore(index_key(w, dimension, value, prefix), lo // 60_000, f"({-(-hi // 60_000)}")
        found = pipe.execute()
    return {w: sorted(int(m) * 60_000 for m in minutes) for w, minutes in zip(windows, found, strict=True)}


def read_topk(
    client: redis.Redis, window: str, dimension: str, value: str, start_ms: int, k: int, prefix: str = DEFAULT_PREFIX
) -> StoredTopK | None:
    """The stored top-``k`` of one window, with bounds; None if absent (never written, or expired).
    ``guaranteed`` is decided for these ``k`` (the stored items after them count as left out)."""
    key = window_key(window, dimension, value, start_ms, prefix)
    with transaction(client, key) as pipe:
        pipe.hgetall(f"{key}:meta")
        pipe.hgetall(f"{key}:bounds")
        meta, bounds = pipe.execute()
    if not meta:
        return None
    stored = []
    for item, text in bounds.items():
        lower, upper = (int(b) for b in text.split(",")[:2])
        stored.append(ItemCount(item, upper, lower, upper))
    return StoredTopK(
        window=window,
        dimension=dimension,
        value=value,
        window_start=int(meta["windowStart"]),
        window_end=int(meta["windowEnd"]),
        total_events=int(meta["totalEvents"]),
        error_bound=int(meta["errorBound"]),
        items=list(top_k(stored, k, int(meta["unlistedBound"])).items),
    )
