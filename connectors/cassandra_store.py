"""Cassandra: the history of window results (top-K rows and serialized summaries).

Tables (keyspace configurable)::

    topk_items        ((window_size, dimension, dim_value, window_start), rank) -> item, bounds, guaranteed
    window_summaries  ((window_size, dimension, dim_value, bucket), window_start DESC)
                      -> window_end, total_events, error_bound, k, capacity, summary blob

``bucket`` caps a partition at 1440 windows, ``window_start - window_start % (1440 * size)``.
Rows are keyed by window, so writing a window again overwrites it (idempotent).

Needs Cassandra 4.0+ (``ALTER TABLE ... ADD IF NOT EXISTS``: schema changes are idempotent, so
any number of writers may apply them); the protocol version is negotiated unless pinned.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from cassandra import ConsistencyLevel, OperationTimedOut, Unavailable, WriteTimeout
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.connection import ConnectionException
from cassandra.policies import RoundRobinPolicy
from cassandra.query import BatchStatement, BatchType
from pyflink.datastream import FlatMapFunction, RuntimeContext

from udfs.window_result import WindowResult

BUCKET_WINDOWS = 1440
RETRY_FOR_S = 300
# errors that mean "Cassandra is not reachable right now": retried
UNREACHABLE = (NoHostAvailable, OperationTimedOut, Unavailable, WriteTimeout, ConnectionException, OSError)

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS {ks}.topk_items (
         window_size text, dimension text, dim_value text, window_start timestamp, rank int,
         item text, estimate bigint, lower_bound bigint, upper_bound bigint, guaranteed boolean,
         PRIMARY KEY ((window_size, dimension, dim_value, window_start), rank))""",
    """CREATE TABLE IF NOT EXISTS {ks}.window_summaries (
         window_size text, dimension text, dim_value text, bucket timestamp, window_start timestamp,
         window_end timestamp, total_events bigint, error_bound bigint, k int, capacity int, summary blob,
         PRIMARY KEY ((window_size, dimension, dim_value, bucket), window_start))
       WITH CLUSTERING ORDER BY (window_start DESC)""",
    "ALTER TABLE {ks}.topk_items ADD IF NOT EXISTS guaranteed boolean",  # tables created before the flag
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
    replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}")
    for cql in SCHEMA:
        session.execute(cql.format(ks=keyspace))


def to_datetime(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def bucket_of(window_start: int, window_ms: int) -> int:
    return window_start - window_start % (BUCKET_WINDOWS * window_ms) if window_ms else 0


class CassandraWriter(FlatMapFunction):
    """Writes each ``WindowResult``: its ``window_summaries`` row, and its ``topk_items`` rows as one
    single-partition UNLOGGED batch of a prepared insert, both in flight together. Emits nothing.
    Without TCP_NODELAY a request waits ~40 ms (Nagle). Measured per K=100 window on the local
    Cassandra 5.0: one 100-row batch ~8 ms (20-row batches in flight together ~9 ms). A
    single-partition batch is one mutation, exempt from the batch size thresholds.

    One session per operator instance, opened on the first write. While Cassandra is unreachable,
    connecting and writing are retried with backoff for up to ``RETRY_FOR_S``, so an outage delays
    results instead of failing the job; past that the error fails the task and Flink restarts it
    from the last checkpoint."""

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
                    self.item = self.session.prepare(self.ITEM.format(ks=self.keyspace))
                self.write(value)
                return iter(())
            except UNREACHABLE as err:
                if time.monotonic() + pause > deadline:
                    raise RuntimeError(f"Cassandra unreachable for {RETRY_FOR_S} s") from err
                self.close()
                time.sleep(pause)
                pause = min(2 * pause, 10.0)

    def write(self, r: WindowResult) -> None:
        start = to_datetime(r.window_start)
        part = (r.window, r.dimension, r.value, start)
        bucket = to_datetime(bucket_of(r.window_start, self.window_sizes_ms[r.window]))
        summary = (to_datetime(r.window_end), r.total_events, r.error_bound, r.k, r.capacity, r.summary)
        pending = [self.session.execute_async(self.summary, (*part[:3], bucket, start, *summary))]
        if r.items:
            batch = BatchStatement(BatchType.UNLOGGED)
            for rank, i in enumerate(r.items, 1):
                batch.add(self.item, (*part, rank, i.item, i.estimate, i.lower_bound, i.upper_bound, i.guaranteed))
            pending.append(self.session.execute_async(batch))
        for future in pending:
            future.result()  # raises on error

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.shutdown()
            self.cluster = None
