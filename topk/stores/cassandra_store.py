"""Cassandra: the history of window results (top-K rows and serialized summaries).

Tables (keyspace configurable)::

    tenant_topk_items        ((tenant, window_size, dimension, dim_value, window_start), rank)
                             -> item, bounds, guaranteed
    tenant_window_summaries  ((tenant, window_size, dimension, dim_value, bucket), window_start DESC)
                             -> window_end, total_events, error_bound, k, capacity, summary blob

Every partition is one tenant's (``default`` for events without one).

``bucket`` caps a partition at 1440 windows, ``window_start - window_start % (1440 * size)``.
Rows are keyed by window, so writing a window again overwrites it (idempotent), and the ranks a
rewrite no longer has are deleted with it (a range deletion in the same single-partition batch), so
a window rewritten with fewer items holds no stale ones. Rows expire with their window's retention
(``USING TTL``, counted from the window's end in event time, as Redis); a window already past it
is not written.

Connections: ``topk.stores.cassandra_connection`` (credentials, TLS, routing, consistency). The job
creates the keyspace with ``NetworkTopologyStrategy`` and a factor per data center.

Needs Cassandra 4.0+ (schema changes are ``IF NOT EXISTS``, so any number of writers may apply
them); the protocol version is negotiated unless pinned. The job
creates the schema; readers never do, and read an absent keyspace as no windows yet.

No Flink here: the job's sink (``connectors.cassandra_sink``) and the query side share this module.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

from cassandra import (
    InvalidRequest,
    OperationTimedOut,
    Unavailable,
    WriteTimeout,
)
from cassandra.cluster import Cluster, NoHostAvailable, ResponseFuture, Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.connection import ConnectionException
from cassandra.query import BatchStatement, BatchType, BoundStatement, PreparedStatement

from topk.events import DEFAULT_TENANT
from topk.sketches import ItemCount
from topk.stores.cassandra_connection import (
    KEYSPACE_NAME,
    CassandraConnection,
    connect,
    local_dc,
    replication_factors,
    set_consistency,
)
from topk.times import epoch_ms, utc
from topk.window_result import WindowResult
from topk.windows import DAY_MS, WindowSpec

BUCKET_WINDOWS = 1440
NEWEST_PARTITIONS = 8  # how far back the newest window is looked for (Redis's index normally says)
MAX_TTL_S = 630_720_000  # Cassandra's longest TTL (20 years); a window ending in the future may be kept longer
# errors that mean "Cassandra is not reachable right now": retried
UNREACHABLE = (NoHostAvailable, OperationTimedOut, Unavailable, WriteTimeout, ConnectionException, OSError)

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS {ks}.tenant_topk_items (
         tenant text, window_size text, dimension text, dim_value text, window_start timestamp, rank int,
         item text, estimate bigint, lower_bound bigint, upper_bound bigint, guaranteed boolean,
         PRIMARY KEY ((tenant, window_size, dimension, dim_value, window_start), rank))""",
    """CREATE TABLE IF NOT EXISTS {ks}.tenant_window_summaries (
         tenant text, window_size text, dimension text, dim_value text, bucket timestamp, window_start timestamp,
         window_end timestamp, total_events bigint, error_bound bigint, k int, capacity int, summary blob,
         PRIMARY KEY ((tenant, window_size, dimension, dim_value, bucket), window_start))
       WITH CLUSTERING ORDER BY (window_start DESC)""",
)
TABLES = {"tenant_topk_items", "tenant_window_summaries"}
TABLES_OF = "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s"


def ensure_schema(session: Session, keyspace: str, replication: str) -> None:
    """Create the keyspace (``NetworkTopologyStrategy`` with the ``dc=factor,...`` of ``replication``)
    and tables unless present."""
    factors = ", ".join(f"'{dc}': {n}" for dc, n in replication_factors(replication).items())
    strategy = f"{{'class': 'NetworkTopologyStrategy', {factors}}}"
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {strategy}")
    for cql in SCHEMA:
        session.execute(cql.format(ks=keyspace))


class Stored(NamedTuple):
    """A stored window summary, and when it was written: the ``WRITETIME`` of its row (epoch
    microseconds, the driver's client timestamps, which strictly increase within a connection, so a
    rewritten window's differs from the one before; only two processes writing one window in the same
    microsecond, a failover's overlap, could share one, and Cassandra would then mix the two writes'
    cells anyway). One INSERT writes every column of the row, so every cell has this time; it is
    read from ``window_end``, which Cassandra reads faster than the ~33 KB summary (46 windows' write
    times: 3.8 against 5.3 ms at p50, measured locally)."""

    summary: bytes | None  # None: as the reader holds it (``CassandraStore.summaries``)
    written: int

    @property
    def written_ms(self) -> int:
        return self.written // 1000


def _at(row) -> tuple[str, int]:
    """A summaries row's window: (size label, start ms)."""
    return row.window_size, epoch_ms(row.window_start)


def bucket_of(window_start: int, window_ms: int) -> int:
    return window_start - window_start % (BUCKET_WINDOWS * window_ms) if window_ms else 0


def item_rows(
    item: PreparedStatement, part: tuple, items: Iterable[ItemCount], ttl: int, protocol: int
) -> Iterator[BoundStatement]:
    """The ``ITEM`` rows of a window (``part``: its partition key) bound to their values, each
    serialized by its column's own CQL type, the key and TTL once: the bytes ``PreparedStatement.bind``
    makes, which checks and serializes every value of every row again (a K=100 window's batch: 0.85
    ms of CPU to build that way, 0.15 ms this way, measured against the local Cassandra 5.0)."""
    types = [c.type.serialize for c in item.column_metadata]
    key = [serialize(v, protocol) for serialize, v in zip(types[: len(part)], part, strict=True)]
    rank, name, estimate, lower, upper, guaranteed, expiry = types[len(part) :]
    ttl_bytes = expiry(ttl, protocol)
    for n, i in enumerate(items, 1):
        row = BoundStatement(item)
        row.values = [
            *key,
            rank(n, protocol),
            name(i.item, protocol),
            estimate(i.estimate, protocol),
            lower(i.lower_bound, protocol),
            upper(i.upper_bound, protocol),
            guaranteed(i.guaranteed, protocol),
            ttl_bytes,
        ]
        yield row


class CassandraStore:
    """Window results in one keyspace: written by the job, read by the query side. Connects on first
    use (so a process starts while Cassandra is down) and again after ``close``; statements are
    prepared once per connection. ``UNREACHABLE`` errors propagate: callers retry or answer 503.

    Writes: a window's ``tenant_window_summaries`` row and its ``tenant_topk_items`` rows as one single-partition
    UNLOGGED batch of a prepared insert, both in flight together. Without TCP_NODELAY a request waits
    ~40 ms (Nagle). Measured per K=100 window on the local Cassandra 5.0: one 100-row batch ~8 ms
    (20-row batches in flight together ~9 ms); a single-partition batch is one mutation, exempt from
    the batch size thresholds.

    Reads: summaries of many windows with one ``IN`` query per partition (bucket), only the write
    times (versions) of those the reader holds decoded; and the starts of the windows written in a
    range (the catalogue, when Redis cannot say)."""

    ITEM = (
        "INSERT INTO {ks}.tenant_topk_items (tenant, window_size, dimension, dim_value, window_start, rank, item, "
        "estimate, lower_bound, upper_bound, guaranteed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
    )
    STALE_RANKS = (
        "DELETE FROM {ks}.tenant_topk_items WHERE tenant = ? AND window_size = ? AND dimension = ? AND dim_value = ? "
        "AND window_start = ? AND rank > ?"
    )
    SUMMARY = (
        "INSERT INTO {ks}.tenant_window_summaries (tenant, window_size, dimension, dim_value, bucket, window_start, "
        "window_end, total_events, error_bound, k, capacity, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "USING TTL ?"
    )
    WHERE_WINDOWS = (
        "WHERE tenant = ? AND window_size = ? AND dimension = ? AND dim_value = ? AND bucket = ? AND window_start IN ?"
    )
    READ = (
        "SELECT window_size, window_start, summary, WRITETIME(window_end) AS written "
        "FROM {ks}.tenant_window_summaries " + WHERE_WINDOWS
    )
    WRITTEN = (
        "SELECT window_size, window_start, WRITETIME(window_end) AS written "
        "FROM {ks}.tenant_window_summaries " + WHERE_WINDOWS
    )
    NEWEST = (
        "SELECT window_start, window_end, summary, WRITETIME(window_end) AS written "
        "FROM {ks}.tenant_window_summaries "
        "WHERE tenant = ? AND window_size = ? AND dimension = ? AND dim_value = ? AND bucket = ? LIMIT 1"
    )
    STARTS = (
        "SELECT window_start FROM {ks}.tenant_window_summaries WHERE tenant = ? AND window_size = ? "
        "AND dimension = ? AND dim_value = ? AND bucket = ? AND window_start >= ? AND window_start < ?"
    )

    def __init__(
        self, conn: CassandraConnection, keyspace: str, windows: Sequence[WindowSpec], *, create_schema: bool = False
    ) -> None:
        if not re.fullmatch(KEYSPACE_NAME, keyspace):  # it goes into CQL text
            raise ValueError(f"bad Cassandra keyspace {keyspace!r}")
        # unquoted in CQL, so Cassandra folds it to lower case; the schema tables hold it so
        self.conn, self.keyspace, self.create_schema = conn.validate(), keyspace.lower(), create_schema
        self.windows = {w.label: w for w in windows}
        self.cluster: Cluster | None = None
        self._statements: dict[str, PreparedStatement] = {}

    @property
    def session(self) -> Session:
        if self.cluster is None:
            cluster, session = connect(self.conn)
            self.cluster, self._session, self._statements = cluster, session, {}
            if self.create_schema:
                ensure_schema(session, self.keyspace, self.conn.replication or f"{local_dc(session, self.conn)}=1")
            set_consistency(session, self.conn, self.keyspace)
        return self._session

    def _prepared(self, name: str) -> PreparedStatement | None:
        """The prepared statement ``name`` (a class attribute), or None while the schema is absent."""
        if name not in self._statements:
            # asked of the node, not of the driver's schema metadata, which may miss another client's change
            rows = self.session.execute(TABLES_OF, (self.keyspace,))
            if not {r.table_name for r in rows} >= TABLES:
                return None  # not created yet: nothing written
            try:
                self._statements[name] = self.session.prepare(getattr(self, name).format(ks=self.keyspace))
            except InvalidRequest:  # dropped since
                return None
        return self._statements[name]

    def write(self, r: WindowResult) -> None:
        for future in self.write_async(r):
            future.result()  # raises on error

    def write_async(self, r: WindowResult) -> list[ResponseFuture]:
        """Start writing ``r``; the requests in flight (none if ``r`` is past its retention). Two
        writes of one window in flight together end as the later one: the driver stamps each write
        when it is sent (client-side timestamps, monotonic)."""
        window = self.windows[r.window]
        left = window.seconds_left(r.window_end, int(time.time() * 1000))
        if left is not None and left <= 0:
            return []  # past its retention already (a replay of old events): not kept
        ttl = 0 if left is None else min(left, MAX_TTL_S)  # USING TTL 0: no expiry
        start = utc(r.window_start)
        part = (r.tenant, r.window, r.dimension, r.value, start)
        bucket = utc(bucket_of(r.window_start, window.size_ms))
        summary = (utc(r.window_end), r.total_events, r.error_bound, r.k, r.capacity, r.summary, ttl)
        pending = [self.session.execute_async(self._prepared("SUMMARY"), (*part[:4], bucket, start, *summary))]
        batch = BatchStatement(BatchType.UNLOGGED)
        batch.add(self._prepared("STALE_RANKS"), (*part, len(r.items)))
        for row in item_rows(self._prepared("ITEM"), part, r.items, ttl, self.session.cluster.protocol_version):
            batch.add(row)
        pending.append(self.session.execute_async(batch))
        return pending

    def summaries(
        self,
        windows: Sequence[tuple[WindowSpec, int]],
        dimension: str,
        value: str,
        tenant: str = DEFAULT_TENANT,
        held: Mapping[tuple[str, int], Hashable] | None = None,
    ) -> dict[tuple[str, int], Stored]:
        """The tenant's stored summaries among ``windows`` (size, start), by (size label, start).
        ``held``: the write times (``Stored.written``) of summaries the caller has, by the same key; of
        those only the write times are read, and one still as written then comes back without its
        bytes (``summary`` None). One round trip (two where a held summary was rewritten since)."""
        held = held or {}
        known = [(w, s) for w, s in windows if (w.label, s) in held]
        unknown = [(w, s) for w, s in windows if (w.label, s) not in held]
        read, written = self._per_partition([("READ", unknown), ("WRITTEN", known)], dimension, value, tenant)
        found = {_at(r): Stored(r.summary, r.written) for r in read}
        unchanged = {_at(r): r.written for r in written}
        found.update((at, Stored(None, t)) for at, t in unchanged.items() if t == held[at])
        rewritten = [(w, s) for w, s in known if (w.label, s) in unchanged and (w.label, s) not in found]
        if rewritten:
            (read,) = self._per_partition([("READ", rewritten)], dimension, value, tenant)
            found.update((_at(r), Stored(r.summary, r.written)) for r in read)
        return found

    def _per_partition(
        self, reads: Sequence[tuple[str, Sequence[tuple[WindowSpec, int]]]], dimension: str, value: str, tenant: str
    ) -> list[list]:
        """The rows each ``(statement, windows)`` of ``reads`` reads: one ``IN`` query per partition
        (size and bucket), all in flight together. A statement with no windows is not prepared (no
        connection is opened for nothing)."""
        batches = []
        for statement, windows in reads:
            prepared, by_partition = self._prepared(statement) if windows else None, defaultdict(list)
            for window, start in windows:
                by_partition[window.label, bucket_of(start, window.size_ms)].append(utc(start))
            params = [(tenant, w, dimension, value, utc(b), at) for (w, b), at in by_partition.items()]
            batches.append([] if prepared is None else [(prepared, p) for p in params])  # None: no schema yet
        requests = [r for batch in batches for r in batch]
        results = iter(execute_concurrent(self.session, requests, raise_on_first_error=True) if requests else ())
        return [[row for _ in batch for row in next(results)[1]] for batch in batches]

    def written(
        self, window: WindowSpec, dimension: str, value: str, lo: int, hi: int, tenant: str = DEFAULT_TENANT
    ) -> list[int]:
        """Starts of the tenant's windows of this size stored with a start in ``[lo, hi)``, ascending."""
        starts = self._prepared("STARTS")
        if starts is None or lo >= hi:
            return []
        span = BUCKET_WINDOWS * window.size_ms
        buckets = range(bucket_of(lo, window.size_ms), hi, span)
        params = [(tenant, window.label, dimension, value, utc(b), utc(lo), utc(hi)) for b in buckets]
        results = execute_concurrent_with_args(self.session, starts, params, raise_on_first_error=True)
        return sorted(itertools.chain.from_iterable((epoch_ms(r.window_start) for r in rows) for _, rows in results))

    def newest(
        self, window: WindowSpec, dimension: str, value: str, now_ms: int, tenant: str = DEFAULT_TENANT
    ) -> tuple[int, int, Stored] | None:
        """Start, end and summary of the tenant's newest stored window of this size
        with a start before a day after ``now_ms``: one ``LIMIT 1`` read per partition, newest first, at
        most ``NEWEST_PARTITIONS`` (1m windows: 8 days back; 1h: 480 days); None if none."""
        newest = self._prepared("NEWEST")
        if newest is None:
            return None
        span, first = BUCKET_WINDOWS * window.size_ms, bucket_of(now_ms + DAY_MS, window.size_ms)
        buckets = (
            [0] if window.is_all_time else [b for b in range(first, first - NEWEST_PARTITIONS * span, -span) if b >= 0]
        )
        for bucket in buckets:
            row = self.session.execute(newest, (tenant, window.label, dimension, value, utc(bucket))).one()
            if row is not None:
                return epoch_ms(row.window_start), epoch_ms(row.window_end), Stored(row.summary, row.written)
        return None

    def holds_windows(self) -> bool:
        """Whether any window is stored (of any tenant); False while the schema is absent."""
        if self._prepared("READ") is None:
            return False
        return (
            self.session.execute(f"SELECT tenant FROM {self.keyspace}.tenant_window_summaries LIMIT 1").one()
            is not None
        )

    def ready(self) -> bool:
        """Reachable, and the job has created the schema."""
        try:
            return self._prepared("READ") is not None
        except (*UNREACHABLE, ValueError):  # ValueError: credentials refused
            self.close()
            return False

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.shutdown()
            self.cluster = None
