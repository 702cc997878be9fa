"""Command-line options for the stores the query side reads, and the ``TopKQueries`` over them
(used by the REST API and the audit command). Nothing connects here: the stores connect on first
use, so the query side starts whatever state Redis and Cassandra are in."""

from __future__ import annotations

import argparse
from dataclasses import fields

from topk.query.archive import EventArchive
from topk.query.budgets import Budgets
from topk.query.engine import TopKQueries
from topk.settings import WindowSettings, add_settings, settings_of
from topk.stores.archive_layout import ArchiveSettings
from topk.stores.cassandra_connection import CassandraConnection
from topk.stores.cassandra_store import CassandraStore
from topk.stores.redis_store import RedisSettings
from topk.stores.redis_store import connect as redis_connect

READ_ONLY = tuple(f.name for f in fields(CassandraConnection) if f.name != "replication")  # the job creates it


def add_storage_arguments(p: argparse.ArgumentParser) -> None:
    """The job's flags for the stores and windows (the same values), and what one question may cost."""
    add_settings(p, RedisSettings)
    add_settings(p, CassandraConnection, only=READ_ONLY)
    add_settings(p, WindowSettings, only=("windows", "retention"))
    add_settings(p, ArchiveSettings, only=("url", "s3_endpoint_url"), url="")  # empty: no exact answers
    add_settings(p, Budgets)


def open_queries(a: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> TopKQueries:
    """The queries the flags of ``add_storage_arguments`` describe (``parser``: exit on a bad one)."""
    windows = list(settings_of(WindowSettings, a, parser).specs)
    redis, archive = settings_of(RedisSettings, a, parser), settings_of(ArchiveSettings, a, parser)
    connection, budgets = settings_of(CassandraConnection, a, parser), settings_of(Budgets, a, parser)
    return TopKQueries(
        redis_connect(redis.url),
        redis_connect(redis.url, decode_responses=False),
        CassandraStore(connection, connection.keyspace, windows),
        windows,
        redis.prefix,
        EventArchive(archive.url, archive.s3_endpoint_url) if archive.url else None,
        budgets.max_range_ms,
        max_exact_bytes=budgets.max_exact_bytes,
    )
