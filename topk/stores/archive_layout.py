"""Where and how the archive keeps raw records as Parquet, on S3 (or any pyarrow filesystem).

Hive-style paths, one file per tenant (events), Kafka partition, offset block and hour::

    <url>/events/tenant=default/date=2026-11-22/hour=13/part-00000-00000000000000100000.parquet
    <url>/dead_letters/date=2026-11-22/hour=13/part-00000-00000000000000100000.parquet

A tenant's events are under a directory of their own (an exact answer lists and reads only its
tenant's files) and carry a ``tenant`` column too. Archives written before tenants (``events/date=``)
are not read: rewrite them with the archive job from the topic.

Events are placed by event time, dead letters by their Kafka timestamp. A file holds the records
of one partition whose offsets fall in one block ``[b, b + block_offsets)``, sorted by time, then
offset: the same records always make the same file, so rewriting one after a restart can never
duplicate an event.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from topk.settings import setting
from topk.times import utc

EVENTS, DEAD_LETTERS = "events", "dead_letters"
HOUR_MS = 3_600_000
TIME = pa.timestamp("ms", tz="UTC")
KAFKA_COLUMNS = [
    pa.field("kafka_partition", pa.int32()),
    pa.field("kafka_offset", pa.int64()),
    pa.field("kafka_time", TIME),
]
EVENT_COLUMNS = [
    pa.field("event_id", pa.string()),
    pa.field("event_type", pa.string()),
    pa.field("tenant", pa.string()),
    pa.field("item", pa.string()),
    pa.field("weight", pa.int64()),
    pa.field("event_time", TIME),
]
DEAD_LETTER_SCHEMA = pa.schema([*KAFKA_COLUMNS, pa.field("reason", pa.string()), pa.field("raw", pa.binary())])
ROW_GROUP_ROWS = 128 * 1024


@dataclass(frozen=True)
class ArchiveSettings:
    """Archive: where the Parquet archive is, and how the archive job writes it."""

    FLAG_PREFIX = "archive-"
    url: str = setting("s3://topk-archive", "s3://bucket/prefix or file:///dir (the query side: empty, none)")
    s3_endpoint_url: str = setting(
        "", "an S3-compatible server, e.g. http://127.0.0.1:8333 (empty: AWS)", flag="--s3-endpoint-url"
    )
    block_offsets: int = setting(100_000, "Kafka offsets per archive file (per partition and hour)")
    flush_ms: int = setting(60_000, "rewrite the open block's files this often")

    def validate(self) -> ArchiveSettings:
        if self.block_offsets < 1 or self.flush_ms < 1:
            raise ValueError("archive block offsets and flush interval must be >= 1")
        return self


def events_schema(dimensions: tuple[str, ...]) -> pa.Schema:
    """Event columns, one string column per dimension, then the Kafka coordinates."""
    taken = {f.name for f in EVENT_COLUMNS + KAFKA_COLUMNS}
    if clash := taken.intersection(dimensions):
        raise ValueError(f"dimension names clash with archive columns: {', '.join(sorted(clash))}")
    return pa.schema([*EVENT_COLUMNS, *(pa.field(d, pa.string()) for d in dimensions), *KAFKA_COLUMNS])


def open_archive(url: str, endpoint_url: str = "") -> tuple[fs.FileSystem, str]:
    """The filesystem and base path of ``s3://bucket/prefix`` (credentials: the AWS environment
    variables or profile) or ``file:///dir``. ``endpoint_url`` points S3 at another server."""
    if url.startswith("s3://") and endpoint_url:
        endpoint = urlparse(endpoint_url)
        s3 = fs.S3FileSystem(
            endpoint_override=endpoint.netloc,
            scheme=endpoint.scheme or "https",
            region=os.environ.get("AWS_REGION", "us-east-1"),  # an S3-compatible server ignores it
        )
        return s3, url.removeprefix("s3://").rstrip("/")
    filesystem, path = fs.FileSystem.from_uri(url)
    return filesystem, path.rstrip("/")


def events_of(tenant: str) -> str:
    """The dataset of one tenant's events."""
    return f"{EVENTS}/tenant={tenant}"


def day_dir(base: str, dataset: str, ms: int) -> str:
    return f"{base}/{dataset}/date={utc(ms):%Y-%m-%d}"


def hour_dir(base: str, dataset: str, ms: int) -> str:
    return f"{day_dir(base, dataset, ms)}/hour={utc(ms):%H}"


def file_path(base: str, dataset: str, hour_ms: int, partition: int, block: int) -> str:
    return f"{hour_dir(base, dataset, hour_ms)}/part-{partition:05d}-{block:020d}.parquet"


def write_file(filesystem: fs.FileSystem, path: str, table: pa.Table) -> int:
    """One Parquet file (zstd, dictionary-encoded strings, row groups of up to 128k rows), put
    whole; returns its size in bytes."""
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    data = buffer.getvalue()
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)  # a no-op on S3, needed on local disks
    with filesystem.open_output_stream(path) as out:
        out.write(data)
    return data.size
