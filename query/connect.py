"""Command-line options for the stores the query side reads, and the ``TopKQueries`` over them
(used by the REST API and the audit command)."""

from __future__ import annotations

import argparse

from connectors.cassandra_store import connect as cassandra_connect
from connectors.redis_sink import DEFAULT_PREFIX
from connectors.redis_sink import connect as redis_connect
from jobs.settings import parse_windows
from query.archive import EventArchive
from query.arguments import add_archive_arguments
from query.engine import TopKQueries


def add_storage_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--redis-prefix", default=DEFAULT_PREFIX, help="the job's --redis-prefix")
    p.add_argument("--cassandra-hosts", default="127.0.0.1")
    p.add_argument("--cassandra-port", type=int, default=9042)
    p.add_argument("--cassandra-keyspace", default="topk")
    p.add_argument("--cassandra-protocol-version", type=int, default=None)
    p.add_argument("--windows", default="1m,1h,1d,all", help="the job's --windows")
    add_archive_arguments(p, default_url="")  # empty: no exact answers


def open_queries(a: argparse.Namespace) -> TopKQueries:
    _, session = cassandra_connect(a.cassandra_hosts.split(","), a.cassandra_port, a.cassandra_protocol_version)
    return TopKQueries(
        redis_connect(a.redis_url), redis_connect(a.redis_url, decode_responses=False), session,
        a.cassandra_keyspace, list(parse_windows(a.windows)), a.redis_prefix,
        EventArchive(a.archive_url, a.s3_endpoint_url) if a.archive_url else None,
    )  # fmt: skip
