"""Exact answers from the Parquet archive (written by jobs/archive_job.py).

Only the hour partitions that overlap [start, end) are listed; of their files, those ``covering``
picks are read, so each Kafka offset is read once however the files overlap; past ``max_bytes`` of
them in all, nothing is read (``OverBudget``). The time range and the dimension filter are pushed
down to the Parquet row groups; counts are summed by Arrow's streaming aggregation as batches are
read, never holding every row.

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
from typing import TypeVar

import pyarrow as pa
import pyarrow.acero as acero
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyarrow import fs

from topk.events import DEFAULT_TENANT
from topk.query.arguments import add_range_arguments
from topk.query.budgets import check_exact_bytes
from topk.settings import add_settings, settings_of
from topk.sketches.accuracy import ranked
from topk.stores.archive_layout import (
    EVENT_COLUMNS,
    KAFKA_COLUMNS,
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
T = TypeVar("T")


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


Part = tuple[list[str], ds.Expression | None]  # files read as one dataset, and the rows of them to read
RESERVED = frozenset(f.name for f in EVENT_COLUMNS + KAFKA_COLUMNS)
NO_SUMS = pa.table({"item": pa.array([], pa.string()), "weight": pa.array([], pa.int64())})


def open_parquet(filesystem: fs.FileSystem, paths: list[str], needed: list[str]) -> ds.Dataset:
    """The Parquet files ``paths`` as one dataset (the first file's schema); ``NotArchived`` if one of
    the ``needed`` columns is missing."""
    dataset = ds.dataset(paths, filesystem=filesystem, format="parquet")
    missing = [c for c in needed if c not in dataset.schema.names]
    if missing:
        raise NotArchived(f"not archived: {', '.join(missing)}")
    return dataset


def planned(
    listing: Callable[[], list[fs.FileInfo]], where: ds.Expression | None, max_bytes: int | None = None
) -> tuple[list[Part], list[fs.FileInfo]]:
    """What to read of the files ``listing`` gives so that each offset is read once (``covering``):
    the files read whole as one part, each file read in part as a part of its own with its offset
    filter; and the files. ``OverBudget`` if their total size is past ``max_bytes``."""
    files = {f.path: f for f in listing()}
    plan = covering(files)
    read = [files[path] for path, _ in plan]
    check_exact_bytes(sum(f.size for f in read), max_bytes)
    whole = [path for path, after in plan if after is None]
    parts: list[Part] = [(whole, where)] if whole else []
    for path, after in plan:
        if after is not None:
            parts.append(([path], offsets_after(after) if where is None else where & offsets_after(after)))
    return parts, read


def relisting(read: Callable[[], T]) -> T:
    """``read()``, which lists archive files and reads them. A compaction may delete a listed file
    before it is read: then it lists and reads again, up to ``READ_ATTEMPTS`` times."""
    for _ in range(READ_ATTEMPTS - 1):
        with contextlib.suppress(OSError):  # FileNotFoundError, or S3's error for a missing key
            return read()
    return read()


def read_archive(
    filesystem: fs.FileSystem,
    listing: Callable[[], list[fs.FileInfo]],
    columns: list[str] | None = None,
    where: ds.Expression | None = None,
    required: list[str] | None = None,
) -> tuple[pa.Table, list[fs.FileInfo]]:
    """The rows of the archive files ``listing`` gives, each offset once, as one table (for tools and
    tests: an answer aggregates as it reads, ``EventArchive``), and the files read."""

    def read() -> tuple[pa.Table, list[fs.FileInfo]]:
        parts, files = planned(listing, where)
        needed = [*(columns or ()), *(required or ())]
        tables = [open_parquet(filesystem, paths, needed).to_table(columns, rows) for paths, rows in parts]
        return (pa.concat_tables(tables, promote_options="default") if tables else pa.table({})), files

    return relisting(read)


def summed(dataset: ds.Dataset, where: ds.Expression | None, item: str | None) -> pa.Table:
    """The weight of the rows of ``dataset`` that ``where`` keeps, summed in one streaming pass (batch
    by batch as they are read, never all rows at once): per item (columns ``item``, ``weight``), or
    with ``item`` given, of all rows (``weight``) and of that item's (``item_weight``), one row."""
    nodes = [acero.Declaration("scan", acero.ScanNodeOptions(dataset, columns=["item", "weight"], filter=where))]
    if where is not None:  # (the scan only uses it to skip row groups)
        nodes.append(acero.Declaration("filter", acero.FilterNodeOptions(where)))
    if item is None:
        sums = acero.AggregateNodeOptions([("weight", "hash_sum", None, "weight")], keys=["item"])
    else:
        of_item = pc.if_else(ds.field("item") == item, ds.field("weight"), 0)
        projected = acero.ProjectNodeOptions([ds.field("weight"), of_item], ["weight", "item_weight"])
        nodes.append(acero.Declaration("project", projected))
        sums = acero.AggregateNodeOptions([(c, "sum", None, c) for c in ("weight", "item_weight")])
    nodes.append(acero.Declaration("aggregate", sums))
    return acero.Declaration.from_sequence(nodes).to_table()


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

    def _summed(
        self, start: int, end: int, dimension: str, value: str, tenant: str, item: str | None, max_bytes: int | None
    ) -> tuple[list[pa.Table], Scan]:
        """``summed`` over each part of the tenant's events in [start, end) (event time) with
        ``dimension == value`` (``all``: every event); ``OverBudget`` past ``max_bytes`` of files."""
        started = time.perf_counter()
        where = (ds.field("event_time") >= pa.scalar(start, TIME)) & (ds.field("event_time") < pa.scalar(end, TIME))
        needed = ["item", "weight"]
        if dimension in RESERVED:  # an event's own column, which no dimension can be
            raise NotArchived(f"not a dimension of the archive: {dimension}")
        if dimension != "all":
            where &= ds.field(dimension) == value
            needed.append(dimension)

        def read() -> tuple[list[pa.Table], list[fs.FileInfo]]:
            parts, files = planned(partial(self._files, start, end, tenant), where, max_bytes)
            return [summed(open_parquet(self.filesystem, paths, needed), rows, item) for paths, rows in parts], files

        sums, files = relisting(read)
        partitions = len({f.path.rsplit("/", 1)[0] for f in files})
        return sums, Scan(partitions, len(files), sum(f.size for f in files), time.perf_counter() - started)

    def sums(
        self,
        start: int,
        end: int,
        dimension: str = "all",
        value: str = "all",
        tenant: str = DEFAULT_TENANT,
        max_bytes: int | None = None,
    ) -> tuple[pa.Table, Scan]:
        """Exact weighted count per item (columns ``item``, ``weight``) of the tenant's events in
        [start, end) (event time) with ``dimension == value`` (``all``: every event)."""
        parts, scan = self._summed(start, end, dimension, value, tenant, None, max_bytes)
        if len(parts) == 1:
            return parts[0], scan
        merged = pa.concat_tables([NO_SUMS, *(p.select(NO_SUMS.column_names) for p in parts)])
        return merged.group_by("item").aggregate([("weight", "sum")]).rename_columns(["item", "weight"]), scan

    def counts(
        self,
        start: int,
        end: int,
        dimension: str = "all",
        value: str = "all",
        tenant: str = DEFAULT_TENANT,
        max_bytes: int | None = None,
    ) -> tuple[dict[str, int], Scan]:
        """``sums`` as a dict (for tools: an answer ranks or picks in Arrow, ``top`` and ``count``)."""
        sums, scan = self.sums(start, end, dimension, value, tenant, max_bytes)
        return dict(zip(sums["item"].to_pylist(), sums["weight"].to_pylist(), strict=True)), scan

    def top(
        self,
        k: int,
        start: int,
        end: int,
        dimension: str = "all",
        value: str = "all",
        tenant: str = DEFAULT_TENANT,
        max_bytes: int | None = None,
    ) -> tuple[list[tuple[str, int]], int, Scan]:
        """The ``k`` largest exact counts, ranked (``ranked``'s order), and the total weight."""
        sums, scan = self.sums(start, end, dimension, value, tenant, max_bytes)
        keys = [("weight", "descending"), ("item", "ascending")]  # (UTF-8 order is code point order)
        top = sums.take(pc.select_k_unstable(sums, k, keys)) if len(sums) > k else sums
        counts = dict(zip(top["item"].to_pylist(), top["weight"].to_pylist(), strict=True))
        return ranked(counts, k), pc.sum(sums["weight"]).as_py() or 0, scan

    def count(
        self,
        item: str,
        start: int,
        end: int,
        dimension: str = "all",
        value: str = "all",
        tenant: str = DEFAULT_TENANT,
        max_bytes: int | None = None,
    ) -> tuple[int, int, Scan]:
        """The exact count of ``item`` and the total weight, as ``sums`` counts them (no table of items)."""
        parts, scan = self._summed(start, end, dimension, value, tenant, item, max_bytes)
        total = sum(p["weight"][0].as_py() or 0 for p in parts)  # (a sum of no rows is null)
        return sum(p["item_weight"][0].as_py() or 0 for p in parts), total, scan


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
