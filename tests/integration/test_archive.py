"""The exact path: the archive job writes every record of a 2-partition topic as Parquet to a
real S3 server (SeaweedFS), its Python worker is killed by PID mid-stream (Flink restores the last
checkpoint's buffers and flushes them again, into files that may overlap those already written),
and the exact counts read back equal the true counts, before and after a compaction: no event lost
or counted twice."""

from __future__ import annotations

import hashlib
import json

import pyarrow.compute as pc
import pytest
from pyarrow import fs

from tests.integration.helpers import (
    PROCESS_WORKERS,
    aligned_start,
    assert_restarted,
    counts_between,
    kill_python_worker,
    python_worker_pids,
    wait_for,
)
from topk.generator.events import StreamSpec, encode, generate
from topk.generator.produce import send
from topk.query.archive import EventArchive, read_archive
from topk.stores.archive_compaction import compact
from topk.stores.archive_layout import DEAD_LETTERS, EVENTS, open_archive
from topk.stores.kafka_client import ensure_topic

pytestmark = pytest.mark.integration
H, M = 3_600_000, 60_000
BAD = (b"{not json", json.dumps({"metadata": {"timestamp": 1}, "payload": {}}).encode())


def archived(url: str, endpoint: str, dataset: str):
    """The archive's rows of one dataset (all files, each offset once), or None before the first file."""
    filesystem, base = open_archive(url, endpoint)

    def listing() -> list[fs.FileInfo]:
        found = filesystem.get_file_info(fs.FileSelector(f"{base}/{dataset}", recursive=True, allow_not_found=True))
        return [f for f in found if f.type == fs.FileType.File]

    table, files = read_archive(filesystem, listing)
    return table if files else None


def test_archive_survives_a_worker_kill_and_counts_exactly(servers, run_id, start_job):
    topic, url = f"archive_{run_id}", servers.archive_url(f"archive_{run_id}")
    spec = StreamSpec(16_000, 500, 1.1, aligned_start(H, 5), 4 * H + 17 * M, seed=7)
    events = list(generate(spec))
    ensure_topic(servers.kafka, topic, partitions=2)
    send(servers.kafka, topic, [encode(e) for e in events[:8_000]])

    job = start_job(
        "--topic",
        topic,
        "--group-id",
        topic,
        "--archive-url",
        url,
        "--archive-buffer-bytes",
        "262144",
        "--archive-flush-ms",
        "1000",
        "--dimensions",
        "region,category,eventType,region+eventType",
        module="jobs.archive_job",
        env=PROCESS_WORKERS,
    )

    def ready_to_kill() -> bool:
        written = archived(url, servers.s3_endpoint, EVENTS)
        checkpointed = bool(servers.checkpoints(run_id))
        return job.poll() is not None or (written is not None and checkpointed and bool(python_worker_pids(job.pid)))

    assert wait_for(ready_to_kill) and job.poll() is None, "the archive job ended before a worker could be killed"
    workers = kill_python_worker(job)
    send(servers.kafka, topic, [encode(e) for e in events[8_000:]] + list(BAD))

    def all_there() -> bool:
        table = archived(url, servers.s3_endpoint, EVENTS)
        return table is not None and table.num_rows >= len(events)

    assert wait_for(all_there), "not every event reached the archive"
    assert_restarted(job, workers)

    table = archived(url, servers.s3_endpoint, EVENTS)
    keys = pc.binary_join_element_wise(
        pc.cast(table["kafka_partition"], "string"), pc.cast(table["kafka_offset"], "string"), ":"
    )
    assert table.num_rows == len(events) == len(pc.unique(keys)), "an event was archived twice"
    assert sorted(table["event_id"].to_pylist()) == sorted(e["metadata"]["eventId"] for e in events)

    def dead_letters_there() -> bool:  # each partition's buffer is flushed on its own
        dead = archived(url, servers.s3_endpoint, DEAD_LETTERS)
        return dead is not None and dead.num_rows >= len(BAD)

    assert wait_for(dead_letters_there, 60)
    dead = archived(url, servers.s3_endpoint, DEAD_LETTERS)
    assert sorted(dead["reason"].to_pylist()) == ["invalid_json", "missing_item"]
    assert sorted(dead["raw"].to_pylist()) == sorted(BAD)
    whole = sorted(zip(dead["raw_length"].to_pylist(), dead["raw_sha256"].to_pylist(), strict=True))
    assert whole == sorted((len(b), hashlib.sha256(b).hexdigest()) for b in BAD)

    archive = EventArchive(url, servers.s3_endpoint)
    lo, hi = spec.start_ms + 23 * M + 517, spec.start_ms + 4 * H + 2 * M  # not aligned to anything
    counts, scan = archive.counts(lo, hi)
    assert counts == counts_between(events, lo, hi)
    assert scan.partitions == 5 and scan.files > 0 and scan.bytes > 0
    counts, _ = archive.counts(lo, hi, "category", "music")
    assert counts == counts_between(events, lo, hi, "category", "music")
    counts, scan = archive.counts(spec.start_ms + H, spec.start_ms + 2 * H, "region", "eu-west")
    assert counts == counts_between(events, spec.start_ms + H, spec.start_ms + 2 * H, "region", "eu-west")
    assert scan.partitions == 1
    for dimension, value in (("eventType", "search"), ("region+eventType", "us-west|product_view")):
        counts, _ = archive.counts(lo, hi, dimension, value)
        assert counts and counts == counts_between(events, lo, hi, dimension, value), dimension

    filesystem, base = open_archive(url, servers.s3_endpoint)
    assert compact(filesystem, base, spec.start_ms + 10 * H), "nothing to compact"
    assert archive.counts(lo, hi)[0] == counts_between(events, lo, hi)
    assert archived(url, servers.s3_endpoint, EVENTS).num_rows == len(events)
