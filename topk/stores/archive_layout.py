"""Where and how the archive keeps raw records as Parquet, on S3 (or any pyarrow filesystem).

Hive-style paths, one file per tenant (events), hour, Kafka partition and flush::

    <url>/events/tenant=default/date=2026-11-22/hour=13/part-00000-<first offset>-<last offset>.parquet
    <url>/dead_letters/date=2026-11-22/hour=13/part-00000-<first offset>-<last offset>.parquet

(offsets as 20 digits). A tenant's events are under a directory of their own (an exact answer lists
and reads only its tenant's files) and carry a ``tenant`` column too. Events are placed by event
time, dead letters by their Kafka timestamp.

A file named ``[first, last]`` holds every record of its partition with an offset in
``[first, last]`` that belongs to its directory (dataset and hour), sorted by time, then offset:
the same records always make the same file. Files may overlap (a flush repeated after a restore,
a replay); ``covering`` picks what to read so that each offset is read once. Names that do not
parse (archives written before flushes named their range, temporary files) are not read.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs

from topk.settings import setting
from topk.times import parse_time_ms, utc

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
DEAD_LETTER_SCHEMA = pa.schema(
    [
        *KAFKA_COLUMNS,
        pa.field("reason", pa.string()),
        pa.field("raw", pa.binary()),  # the record's first --dead-letter-max-bytes
        pa.field("raw_length", pa.int64()),  # the whole record's length in bytes
        pa.field("raw_sha256", pa.string()),  # the whole record's SHA-256, hex
    ]
)
ROW_GROUP_ROWS = 128 * 1024


@dataclass(frozen=True)
class ArchiveSettings:
    """Archive: where the Parquet archive is, and how the archive job writes it."""

    FLAG_PREFIX = "archive-"
    url: str = setting("s3://topk-archive", "s3://bucket/prefix or file:///dir (the query side: empty, none)")
    s3_endpoint_url: str = setting(
        "", "an S3-compatible server, e.g. http://127.0.0.1:8333 (empty: AWS)", flag="--s3-endpoint-url"
    )
    buffer_bytes: int = setting(64 * 1024 * 1024, "write a partition's buffered records once they reach this size")
    flush_ms: int = setting(60_000, "write what is buffered this often")

    def validate(self) -> ArchiveSettings:
        if self.buffer_bytes < 1 or self.flush_ms < 1:
            raise ValueError("archive buffer bytes and flush interval must be >= 1")
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


def file_name(partition: int, first: int, last: int) -> str:
    """The name of a file of ``partition``'s records with offsets in [first, last]."""
    return f"part-{partition:05d}-{first:020d}-{last:020d}.parquet"


def file_path(base: str, dataset: str, hour_ms: int, partition: int, first: int, last: int) -> str:
    return f"{hour_dir(base, dataset, hour_ms)}/{file_name(partition, first, last)}"


FILE_NAME = re.compile(r"part-(\d{5})-(\d{20})-(\d{20})\.parquet")
HOUR_DIR = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})$")


class ArchiveFile(NamedTuple):
    path: str
    partition: int
    first: int
    last: int


def parse_file(path: str) -> ArchiveFile | None:
    """The partition and offset range in a file's name; None for any other name."""
    found = FILE_NAME.fullmatch(path.rsplit("/", 1)[-1])
    return ArchiveFile(path, *map(int, found.groups())) if found else None


def hour_of(directory: str) -> int | None:
    """The start (epoch ms) of the hour an hour directory (``…/date=…/hour=…``) holds; None for
    any other path."""
    found = HOUR_DIR.search(directory)
    return parse_time_ms(f"{found[1]}T{found[2]}:00") if found else None


def file_groups(paths: Iterable[str]) -> list[list[ArchiveFile]]:
    """The archive files among ``paths`` by directory and partition, each group in reading order:
    first offset ascending, then last descending (a file before those it covers)."""
    groups: dict[tuple[str, int], list[ArchiveFile]] = defaultdict(list)
    for f in filter(None, map(parse_file, paths)):
        groups[(f.path.rsplit("/", 1)[0], f.partition)].append(f)
    return [sorted(files, key=lambda f: (f.first, -f.last)) for _, files in sorted(groups.items())]


def covering(paths: Iterable[str]) -> list[tuple[str, int | None]]:
    """What to read so that each offset of each directory and partition is read once: (path, None)
    to read a file whole, (path, after) to read its rows with ``kafka_offset > after``. A file whose
    range is covered by those before it is not read."""
    plan: list[tuple[str, int | None]] = []
    for files in file_groups(paths):
        covered = -1
        for f in files:
            if f.last > covered:
                plan.append((f.path, None if f.first > covered else covered))
                covered = f.last
    return plan


def offsets_after(after: int) -> ds.Expression:
    return ds.field("kafka_offset") > after


def sort_rows(table: pa.Table) -> pa.Table:
    """A file's rows in their order: by time (event time; Kafka time for dead letters), then offset."""
    time = "event_time" if "event_time" in table.column_names else "kafka_time"
    return table.sort_by([(time, "ascending"), ("kafka_offset", "ascending")])


def write_file(filesystem: fs.FileSystem, path: str, table: pa.Table) -> int:
    """One Parquet file (zstd, dictionary-encoded strings, row groups of up to 128k rows), put whole
    so that no reader sees part of it: on S3 one PUT, elsewhere a temporary name in the same
    directory moved into place. Returns its size in bytes."""
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    data = buffer.getvalue()
    directory, name = path.rsplit("/", 1)
    filesystem.create_dir(directory, recursive=True)  # a no-op on S3, needed on local disks
    temporary = path if filesystem.type_name == "s3" else f"{directory}/.{name}.{uuid.uuid4().hex}.tmp"
    with filesystem.open_output_stream(temporary) as out:
        out.write(data)
    if temporary != path:
        filesystem.move(temporary, path)
    return data.size
