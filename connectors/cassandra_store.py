"""Cassandra: the history of window results (top-K rows and serialized summaries).

Tables (keyspace configurable)::

    topk_items        ((window_size, dimension, dim_value, window_start), rank) -> item, bounds
    window_summaries  ((window_size, dimension, dim_value, bucket), window_start DESC)
                      -> window_end, total_events, error_bound, k, capacity, summary blob

``bucket`` caps a partition at 1440 windows: ``window_start - window_start % (1440 * size)``.
Rows are keyed by window, so writing a window again overwrites it (idempotent).

The CQL stays within what Cassandra 1.2 (used in local tests) and 4/5 both accept: no
``IF NOT EXISTS`` (AlreadyExists counts as success), consistency ONE, no driver batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from cassandra import AlreadyExists, ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import RoundRobinPolicy
from pyflink.datastream import FlatMapFunction, RuntimeContext

from udfs.window_result import WindowResult

BUCKET_WINDOWS = 1440

SCHEMA = (
    """CREATE TABLE {ks}.topk_items (
         window_size text, dimension text, dim_value text, window_start timestamp, rank int,
         item text, estimate bigint, lower_bound bigint, upper_bound bigint,
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
    cluster = Cluster(list(hosts), port=port, execution_profiles={EXEC_PROFILE_DEFAULT: profile}, **kwargs)
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
    """Writes each ``WindowResult`` with prepared statements; emits nothing."""

    def __init__(
        self,
        hosts: Sequence[str],
        port: int,
        keyspace: str,
        protocol_version: int | None,
        window_sizes_ms: dict[str, int],
    ) -> None:
        self.hosts, self.port, self.keyspace = list(hosts), port, keyspace
        self.protocol_version = protocol_version
        self.window_sizes_ms = window_sizes_ms
        self.cluster: Cluster | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.cluster, self.session = connect(self.hosts, self.port, self.protocol_version)
        ensure_schema(self.session, self.keyspace)
        ks = self.keyspace
        self.insert_item = self.session.prepare(
            f"INSERT INTO {ks}.topk_items (window_size, dimension, dim_value, window_start, rank, item, "
            "estimate, lower_bound, upper_bound) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self.insert_summary = self.session.prepare(
            f"INSERT INTO {ks}.window_summaries (window_size, dimension, dim_value, bucket, window_start, "
            "window_end, total_events, error_bound, k, capacity, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )

    def flat_map(self, r: WindowResult) -> Iterator[None]:
        start = to_datetime(r.window_start)
        part = (r.window, r.dimension, r.value, start)
        rows = [(*part, rank, i.item, i.estimate, i.lower_bound, i.upper_bound) for rank, i in enumerate(r.items, 1)]
        execute_concurrent_with_args(self.session, self.insert_item, rows, concurrency=32)  # raises on error
        bucket = to_datetime(bucket_of(r.window_start, self.window_sizes_ms[r.window]))
        self.session.execute(
            self.insert_summary,
            (
                r.window,
                r.dimension,
                r.value,
                bucket,
                start,
                to_datetime(r.window_end),
                r.total_events,
                r.error_bound,
                r.k,
                r.capacity,
                r.summary,
            ),
        )
        return iter(())

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.shutdown()
