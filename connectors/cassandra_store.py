"""Cassandra: the history of window results (top-K rows and serialized summaries).

Tables (keyspace configurable)::

    topk_items        ((window_size, dimension, dim_value, window_start), rank) -> item, bounds, guaranteed
    window_summaries  ((window_size, dimension, dim_value, bucket), window_start DESC)
                      -> window_end, total_events, error_bound, k, capacity, summary blob

``bucket`` caps a partition at 1440 windows, ``window_start - window_start % (1440 * size)``.
Rows are keyed by window, so writing a window again overwrites it (idempotent).

The CQL stays within what Cassandra 1.2 (used in local tests) and 4/5 both accept: no
``IF NOT EXISTS`` (AlreadyExists counts as success), consistency ONE, CQL-text batches (prepared)
rather than the driver's ``BatchStatement`` (protocol v2+).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from cassandra import AlreadyExists, ConsistencyLevel, OperationTimedOut, Unavailable, WriteTimeout
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.connection import ConnectionException
from cassandra.policies import RoundRobinPolicy
from cassandra.query import PreparedStatement
from pyflink.datastream import FlatMapFunction, RuntimeContext

from udfs.window_result import WindowResult

BUCKET_WINDOWS = 1440
RETRY_FOR_S = 300
# errors that mean "Cassandra is not reachable right now": retried
UNREACHABLE = (NoHostAvailable, OperationTimedOut, Unavailable, WriteTimeout, ConnectionException, OSError)

SCHEMA = (
    """CREATE TABLE {ks}.topk_items (
         window_size text, dimension text, dim_value text, window_start timestamp, rank int,
         item text, estimate bigint, lower_bound bigint, upper_bound bigint, guaranteed boolean,
         PRIMARY KEY ((window_size, dimension, dim_value, window_start), rank))""",
    """CREATE TABLE {ks}.window_summaries (
         window_size text, dimension text, dim_value text, bucket timestamp, window_start timestamp,
         window_end timestamp, total_events bigint, error_bound bigint, k int, capacity int, summary blob,
         PRIMARY KEY ((window_size, dimension, dim_value, bucket), window_start))
       WITH CLUSTERING ORDER BY (window_start DESC)""",
)


def connect(hosts: Sequence[str], port: int, protocol_version: int | None = None) -> tuple[Cluster, Session]:
    profile = ExecutionProfile(consistency_level=ConsistencyLevel.ONE, load_balancing_policy=RoundRobinPolicy())
    kwargs = {"protocol_version": protocol_version} if protocol_version else {}
    no_delay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]  # else small requests wait ~40 ms (Nagle)
    cluster = Cluster(
        list(hosts), port=port, execution_profiles={EXEC_PROFILE_DEFAULT: profile}, sockopts=no_delay, **kwargs
    )
    return cluster, cluster.connect()


def ensure_schema(session: Session, keyspace: str) -> None:
    """Create the keyspace (SimpleStrategy, RF 1, for local use) and tables unless present."""
    statements = [
        f"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}",
        *(s.format(ks=keyspace) for s in SCHEMA),
    ]
    for cql in statements:
        with contextlib.suppress(AlreadyExists):
            session.execute(cql)


def to_datetime(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def bucket_of(window_start: int, window_ms: int) -> int:
    return window_start - window_start % (BUCKET_WINDOWS * window_ms) if window_ms else 0


class CassandraWriter(FlatMapFunction):
    """Writes each ``WindowResult``: its ``window_summaries`` row, and its ``topk_items`` rows as
    prepared single-partition UNLOGGED BATCHes of up to ``ROWS_PER_BATCH`` rows, all in flight
    together. Emits nothing. Measured per K=100 window on local Cassandra 1.2: without TCP_NODELAY
    a request waits ~40 ms (Nagle); with it, 100 single inserts take ~25 ms, one 100-row batch
    ~37 ms, five 20-row batches ~9 ms. Cassandra 3.6+ exempts single-partition batches from the
    batch size thresholds.

    One session per operator instance, opened on the first write. While Cassandra is unreachable,
    connecting and writing are retried with backoff for up to ``RETRY_FOR_S``, so an outage delays
    results instead of failing the job; past that the error fails the task and Flink restarts it
    from the last checkpoint."""

    ROWS_PER_BATCH = 20
    ITEM = (
        "INSERT INTO {ks}.topk_items (window_size, dimension, dim_value, window_start, rank, item, "
        "estimate, lower_bound, upper_bound, guaranteed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    SUMMARY = (
        "INSERT INTO {ks}.window_summaries (window_size, dimension, dim_value, bucket, window_start, "
        "window_end, total_events, error_bound, k, capacity, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )

    def __init__(
        self,
        hosts: Sequence[str],
        port: int,
        keyspace: str,
        protocol_version: int | None,
        *,
        window_sizes_ms: dict[str, int],
    ) -> None:
        self.hosts, self.port, self.keyspace = list(hosts), port, keyspace
        self.protocol_version = protocol_version
        self.window_sizes_ms = window_sizes_ms
        self.cluster: Cluster | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.cluster = None  # connect on the first write: open() must not fail while Cassandra is down

    def flat_map(self, value: WindowResult) -> Iterator[None]:
        deadline, pause = time.monotonic() + RETRY_FOR_S, 0.2
        while True:
            try:
                if self.cluster is None:
                    self.cluster, self.session = connect(self.hosts, self.port, self.protocol_version)
                    ensure_schema(self.session, self.keyspace)
                    self.summary = self.session.prepare(self.SUMMARY.format(ks=self.keyspace))
                    self.batches: dict[int, PreparedStatement] = {}  # by number of rows
                self.write(value)
                return iter(())
            except UNREACHABLE as err:
                if time.monotonic() + pause > deadline:
                    raise RuntimeError(f"Cassandra unreachable for {RETRY_FOR_S} s") from err
                self.close()
                time.sleep(pause)
                pause = min(2 * pause, 10.0)

    def _items_batch(self, rows: int) -> PreparedStatement:
        if rows not in self.batches:
            insert = self.ITEM.format(ks=self.keyspace)
            self.batches[rows] = self.session.prepare(f"BEGIN UNLOGGED BATCH {'; '.join([insert] * rows)}; APPLY BATCH")
        return self.batches[rows]

    def write(self, r: WindowResult) -> None:
        start = to_datetime(r.window_start)
        part = (r.window, r.dimension, r.value, start)
        bucket = to_datetime(bucket_of(r.window_start, self.window_sizes_ms[r.window]))
        summary = (to_datetime(r.window_end), r.total_events, r.error_bound, r.k, r.capacity, r.summary)
        pending = [self.session.execute_async(self.summary, (*part[:3], bucket, start, *summary))]
        rows = [
            (*part, rank, i.item, i.estimate, i.lower_bound, i.upper_bound, i.guaranteed)
            for rank, i in enumerate(r.items, 1)
        ]
        for first in range(0, len(rows), self.ROWS_PER_BATCH):
            chunk = rows[first : first + self.ROWS_PER_BATCH]
            values = [v for row in chunk for v in row]
            pending.append(self.session.execute_async(self._items_batch(len(chunk)), values))
        for future in pending:
            future.result()  # raises on error

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.shutdown()
            self.cluster = None
