"""Compaction: fewer, larger archive files with the same rows (``jobs/archive_compact.py`` runs it).

Per hour directory and Kafka partition, files whose offset ranges touch or overlap form a run (in
reading order, a file continues the run while its first offset is at most one past the run's
last). A run of more than one file is written as one file named by the run's range, each offset
once, sorted by time then offset (``write_file``: put whole), and only then are the run's other
files deleted: a reader that lists in between reads the new file and skips the ones it covers.
Runs are not merged across a gap in the offsets: a replay may fill it later, and it must then be
read. Compacting again changes nothing. Run one compaction at a time per archive.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow import fs

from topk.stores.archive_layout import (
    DEAD_LETTERS,
    EVENTS,
    HOUR_MS,
    ArchiveFile,
    covering,
    events_of,
    file_groups,
    file_name,
    hour_of,
    offsets_after,
    parse_file,
    sort_rows,
    write_file,
)


@dataclass(frozen=True)
class Compacted:
    """One run written as one file."""

    path: str
    files: int  # the run's files, now replaced by ``path``
    rows: int
    bytes: int


def runs(files: list[ArchiveFile]) -> list[list[ArchiveFile]]:
    """One directory's and partition's files in reading order (``file_groups``), as runs of files
    whose offset ranges touch or overlap."""
    found: list[list[ArchiveFile]] = []
    covered = -2
    for f in files:
        if f.first > covered + 1:
            found.append([])
        found[-1].append(f)
        covered = max(covered, f.last)
    return found


def compact_run(filesystem: fs.FileSystem, run: list[ArchiveFile]) -> Compacted:
    """The run's rows, each offset once, as one file; then the run's other files deleted."""
    directory = run[0].path.rsplit("/", 1)[0]
    first, last = run[0].first, max(f.last for f in run)
    target = f"{directory}/{file_name(run[0].partition, first, last)}"
    tables = []
    for path, after in covering(f.path for f in run):
        dataset = ds.dataset(path, filesystem=filesystem, format="parquet")
        tables.append(dataset.to_table(filter=None if after is None else offsets_after(after)))
    table = sort_rows(pa.concat_tables(tables, promote_options="default"))
    paths = [f.path for f in run]
    size = filesystem.get_file_info(target).size if target in paths else write_file(filesystem, target, table)
    for path in paths:
        if path != target:
            filesystem.delete_file(path)
    return Compacted(target, len(run), table.num_rows, size)


def compact_directory(filesystem: fs.FileSystem, paths: list[str]) -> list[Compacted]:
    """Every run of more than one file among one hour directory's files, compacted."""
    return [compact_run(filesystem, run) for files in file_groups(paths) for run in runs(files) if len(run) > 1]


def hour_directories(filesystem: fs.FileSystem, base: str, before_ms: int, tenant: str = "all") -> dict[str, list[str]]:
    """The files of each hour directory that ends at or before ``before_ms``: of ``tenant``'s events
    (``all``: every tenant's, and the dead letters)."""
    roots = [f"{base}/{events_of(tenant)}"]
    if tenant == "all":
        tenants = filesystem.get_file_info(fs.FileSelector(f"{base}/{EVENTS}", allow_not_found=True))
        roots = [t.path for t in tenants if t.type == fs.FileType.Directory] + [f"{base}/{DEAD_LETTERS}"]
    found: dict[str, list[str]] = defaultdict(list)
    for root in roots:
        for info in filesystem.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True)):
            directory = info.path.rsplit("/", 1)[0]
            hour = hour_of(directory)
            if parse_file(info.path) and hour is not None and hour + HOUR_MS <= before_ms:
                found[directory].append(info.path)
    return dict(sorted(found.items()))


def compact(filesystem: fs.FileSystem, base: str, before_ms: int, tenant: str = "all") -> list[Compacted]:
    """Every hour directory that ends at or before ``before_ms`` compacted (see ``hour_directories``)."""
    found = hour_directories(filesystem, base, before_ms, tenant)
    return [done for paths in found.values() for done in compact_directory(filesystem, paths)]
