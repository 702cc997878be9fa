"""Command-line options for the stores the query side reads, and the ``TopKQueries`` over them
(used by the REST API and the audit command). Nothing connects here: the stores connect on first
use, so the query side starts whatever state Redis and Cassandra are in."""

from __future__ import annotations

import argparse

from connectors.cassandra_connection import add_cassandra_arguments, connection_of
from connectors.cassandra_store import CassandraStore
from connectors.redis_store import DEFAULT_PREFIX
from connectors.redis_store import connect as redis_connect
from topk.query.archive import EventArchive
from topk.query.arguments import add_archive_arguments
from topk.query.engine import MAX_RANGE_DAYS, TopKQueries
from topk.windows import DAY_MS, parse_windows


def add_storage_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--redis-prefix", default=DEFAULT_PREFIX, help="the job's --redis-prefix")
    add_cassandra_arguments(p)
    p.add_argument("--cassandra-keyspace", default="topk")
    p.add_argument("--windows", default="1m,1h,1d,all", help="the job's --windows")
    p.add_argument("--retention", default="", help="the job's --retention")
    p.add_argument("--max-range-days", type=float, default=MAX_RANGE_DAYS, help="longer ranges are refused")
    add_archive_arguments(p, default_url="")  # empty: no exact answers


def open_queries(a: argparse.Namespace) -> TopKQueries:
    windows = list(parse_windows(a.windows, a.retention))
    cassandra = CassandraStore(connection_of(a), a.cassandra_keyspace, windows)
    return TopKQueries(
        redis_connect(a.redis_url), redis_connect(a.redis_url, decode_responses=False), cassandra, windows,
        a.redis_prefix, EventArchive(a.archive_url, a.s3_endpoint_url) if a.archive_url else None,
        int(a.max_range_days * DAY_MS),
    )  # fmt: skip
