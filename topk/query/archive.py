"""Exact answers from the Parquet archive (written by jobs/archive_job.py).

Only the hour partitions that overlap [start, end) are listed; of their files, those ``covering``
picks are read, so each Kafka offset is read once however the files overlap; the time range and
the dimension filter are pushed down to the Parquet row groups; counts are summed in Arrow.

python -m topk.query.archive --start 2026-11-22T10:00 --end 2026-11-22T13:00 [--k 10]
    [--dimension region --value eu-west] [--archive-url s3://topk-archive] [--s3-endpoint-url http://127.0.0.1:8333]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow import fs

from topk.events import DEFAULT_TENANT
from topk.query.arguments import add_range_arguments
from topk.settings import add_settings, settings_of
from topk.sketches.accuracy import ranked
from topk.stores.archive_layout import (
    TIME,
    ArchiveSettings,
    covering,
    day_dir,
    events_of,
    hour_dir,
    offsets_after,
    open_archive,
)
from topk.times import iso, parse_time_ms

READ_ATTEMPTS = 3


class NotArchived(ValueError):
    """A filter on a dimension the archive job was not given."""


@dataclass(frozen=True)
class Scan:
    """What an exact answer read: the hour partitions with files, the files, their total size
    (an upper bound on the bytes fetched: push-down skips row groups and columns) and the time."""

    partitions: int
    files: int
    bytes: int
    seconds: float


def read_parquet(
    filesystem: fs.FileSystem,
    paths: list[str],
    columns: list[str] | None = None,
    where: ds.Expression | None = None,
    required: list[str] | None = None,
) -> pa.Table:
    """The rows of the Parquet files ``paths`` (one dataset, the first file's schema); ``NotArchived``
    if one of ``columns`` or of the ``required`` ones (those the filter reads) is missing."""
    dataset = ds.dataset(paths, filesystem=filesystem, format="parquet")
    missing = [c for c in [*(columns or ()), *(required or ())] if c not in dataset.schema.names]
    if missing:
        raise NotArchived(f"not archived: {', '.join(missing)}")
    return dataset.to_table(columns=columns, filter=where)


def read_archive(
    filesystem: fs.FileSystem,
    listing: Callable[[], list[fs.FileInfo]],
    columns: list[str] | None = None,
    where: ds.Expression | None = None,
    required: list[str] | None = None,
) -> tuple[pa.Table, list[fs.FileInfo]]:
    """The rows of the archive files ``listing`` gives, each offset once (``covering``): the files
    read whole in one dataset, each file read in part with its own offset filter. Also the files
    read. A compaction may delete a listed file before it is read: then it lists and reads again,
    up to ``READ_ATTEMPTS`` times."""
    for _ in range(READ_ATTEMPTS - 1):
        with contextlib.suppress(OSError):  # FileNotFoundError, or S3's error for a missing key
            return _read_listed(filesystem, listing, columns, where, required)
    return _read_listed(filesystem, listing, columns, where, required)


def _read_listed(
    filesystem: fs.FileSystem,
    listing: Callable[[], list[fs.FileInfo]],
    columns: list[str] | None,
    where: ds.Expression | None,
    required: list[str] | None,
) -> tuple[pa.Table, list[fs.FileInfo]]:
    files = {f.path: f for f in listing()}
    plan = covering(files)
    if not plan:
        return pa.table({}), []
    whole = [path for path, after in plan if after is None]
    tables = [read_parquet(filesystem, whole, columns, where, required)] if whole else []
    for path, after in plan:
        if after is not None:
            rows = offsets_after(after) if where is None else where & offsets_after(after)
            tables.append(read_parquet(filesystem, [path], columns, rows, required))
    return pa.concat_tables(tables, promote_options="default"), [files[path] for path, _ in plan]


class EventArchive:
    def __init__(self, url: str, endpoint_url: str = "") -> None:
        self.filesystem, self.base = open_archive(url, endpoint_url)

    def _files(self, start: int, end: int, tenant: str) -> list[fs.FileInfo]:
        """The tenant's Parquet files of the hour partitions that overlap [start, end): one listing
        of the dates, then one per date in range."""
        events = events_of(tenant)
        root = f"{self.base}/{events}"
        first_day, last_day = day_dir(self.base, events, start), day_dir(self.base, events, end - 1)
        days = self.filesystem.get_file_info(fs.FileSelector(root, allow_not_found=True))
        files = []
        for day in days:
            if day.type == fs.FileType.Directory and first_day <= day.path <= last_day:
                files += self.filesystem.get_file_info(fs.FileSelector(day.path, recursive=True))
        low, high = hour_dir(self.base, events, start), hour_dir(self.base, events, end - 1)
        return [f for f in files if f.path.endswith(".parquet") and low <= f.path.rsplit("/", 1)[0] <= high]

    def counts(
        self, start: int, end: int, dimension: str = "all", value: str = "all", tenant: str = DEFAULT_TENANT
    ) -> tuple[dict[str, int], Scan]:
        """Exact weighted count per item of the tenant's events in [start, end) (event time) with
        ``dimension == value`` (``all``: every event)."""
        started = time.perf_counter()
        where = (ds.field("event_time") >= pa.scalar(start, TIME)) & (ds.field("event_time") < pa.scalar(end, TIME))
        required = []
        if dimension != "all":
            where &= ds.field(dimension) == value
            required.append(dimension)
        listing = partial(self._files, start, end, tenant)
        table, files = read_archive(self.filesystem, listing, ["item", "weight"], where, required)
        counts: dict[str, int] = {}
        if files:
            sums = table.group_by("item").aggregate([("weight", "sum")])
            counts = dict(zip(sums["item"].to_pylist(), sums["weight_sum"].to_pylist(), strict=True))
        partitions = len({f.path.rsplit("/", 1)[0] for f in files})
        scan = Scan(partitions, len(files), sum(f.size for f in files), time.perf_counter() - started)
        return counts, scan


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_range_arguments(p)
    add_settings(p, ArchiveSettings, only=("url", "s3_endpoint_url"))
    a = p.parse_args(argv)
    start, end = parse_time_ms(a.start), parse_time_ms(a.end)
    archive = settings_of(ArchiveSettings, a, p)
    counts, scan = EventArchive(archive.url, archive.s3_endpoint_url).counts(start, end, a.dimension, a.value, a.tenant)
    print(
        f"exact top-{a.k} of tenant {a.tenant}, {a.dimension}={a.value} [{iso(start)}, {iso(end)}): "
        f"{sum(counts.values())} events; "
        f"read {scan.files} files ({scan.bytes:,} bytes) in {scan.partitions} hour partitions, {scan.seconds:.2f} s"
    )
    for rank, (item, count) in enumerate(ranked(counts, a.k), 1):
        print(f"  {rank:>3}. {item:<24} {count:>9}")


if __name__ == "__main__":
    main()
