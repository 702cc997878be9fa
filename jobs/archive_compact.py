"""Compacts the Parquet archive: per hour directory and Kafka partition, each run of files with
touching offset ranges becomes one file (``topk/stores/archive_compaction.py``). No Flink.

python -m jobs.archive_compact --archive-url s3://topk-archive [--s3-endpoint-url http://127.0.0.1:8333]
    [--tenant T | all] [--before 2026-11-22T10:00 | <epoch ms>]
"""

from __future__ import annotations

import argparse
import time

from topk.settings import add_settings, settings_of
from topk.stores.archive_compaction import compact
from topk.stores.archive_layout import HOUR_MS, ArchiveSettings, open_archive
from topk.times import iso, parse_time_ms

SETTLED_MS = 2 * HOUR_MS  # by default, hours that ended at least this long ago


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(p, ArchiveSettings, only=("url", "s3_endpoint_url"))
    p.add_argument("--tenant", default="all", help="one tenant's events (all: every tenant's, and dead letters)")
    p.add_argument(
        "--before", type=parse_time_ms, help="hours that end by then: epoch ms or ISO-8601 (default 2 h ago)"
    )
    a = p.parse_args(argv)
    archive = settings_of(ArchiveSettings, a, p)
    before = a.before if a.before is not None else int(time.time() * 1000) - SETTLED_MS
    filesystem, base = open_archive(archive.url, archive.s3_endpoint_url)
    done = compact(filesystem, base, before, a.tenant)
    for c in done:
        print(f"{c.path}: {c.files} files -> 1, {c.rows:,} rows, {c.bytes:,} bytes")
    replaced = sum(c.files for c in done)
    print(f"compacted tenant {a.tenant}, hours ending by {iso(before)}: {replaced} files into {len(done)}")


if __name__ == "__main__":
    main()
