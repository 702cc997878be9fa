"""Starting without state never overwrites a complete result: a second run of the same job over
results it wrote is refused with the ways on, the archive job likewise, and the ways on work (a
replay over the live results rebuilds every window from the whole topic; the archive job resumed
from its retained checkpoint, or replayed over its own files, still holds every offset once)."""

from __future__ import annotations

import subprocess

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from kafka.admin import KafkaAdminClient
from pyarrow import fs

from jobs.settings import parse_args
from jobs.start import committed_offsets
from tests.integration.conftest import job_command
from tests.integration.helpers import aligned_start, counts_between, stored_top
from tests.integration.test_archive import archived
from topk.generator.events import StreamSpec, encode, exact_counts, generate
from topk.generator.produce import send
from topk.query.archive import EventArchive
from topk.sketches.accuracy import ranked
from topk.stores.archive_layout import EVENTS, open_archive
from topk.stores.kafka_client import ensure_topic
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import window_key

pytestmark = pytest.mark.integration
H, M = 3_600_000, 60_000
REFUSED = "refusing to start without state"


def run(servers, run_id: str, *args: str, module: str = "jobs.topk_job") -> subprocess.CompletedProcess:
    cmd = job_command(servers, run_id, module, "--bounded", *args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_a_run_without_state_over_its_results_is_refused_and_a_replay_rebuilds_them(servers, run_id):
    topic = f"rerun_{run_id}"
    spec = StreamSpec(8_000, 300, 1.1, aligned_start(H, 4), 2 * H, seed=21)
    first = list(generate(spec))
    ensure_topic(servers.kafka, topic, partitions=2)
    send(servers.kafka, topic, [encode(e) for e in first])
    flags = (
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--group-id",
        topic,
        "--redis-prefix",
        topic,
        "--cassandra-keyspace",
        topic,
        "--windows",
        "1m,1h,all",
        "--dimensions",
        "region",
        "--k",
        "5",
    )
    done = run(servers, run_id, *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    admin = KafkaAdminClient(**servers.kafka.kafka_python())
    try:  # made at the start, before any record needs it: a broker need not create topics on first use
        assert f"{topic}-dlq" in admin.list_topics()
    finally:
        admin.close()
    r = redis_connect(servers.redis_url)
    all_time = window_key("all", "all", "all", 0, topic)
    assert int(r.hget(all_time + ":meta", "totalEvents")) == len(first)

    more = list(generate(StreamSpec(1_000, 300, 1.1, spec.start_ms + 2 * H, H, seed=22)))
    send(servers.kafka, topic, [encode(e) for e in more])
    # a bounded job commits its offsets with its last checkpoint, which may complete as it ends or not:
    # the refusal names the group's offsets exactly when there are some
    committed = bool(committed_offsets(parse_args(["--bootstrap-servers", servers.bootstrap, *flags])))
    for again in ((), ("--resume-from", "latest")):  # a bounded job that finished retains no checkpoint
        refused = run(servers, run_id, *flags, *again)
        assert refused.returncode == 2 and REFUSED in refused.stderr, refused.stderr[-3000:]
        assert (f"consumer group {topic} has committed offsets" in refused.stderr) == committed
        assert f"keyspace {topic} holds windows" in refused.stderr
        assert "scripts/submit.sh resume latest" in refused.stderr and "--into" in refused.stderr
    assert int(r.hget(all_time + ":meta", "totalEvents")) == len(first)  # nothing was overwritten

    other_group = ("--group-id", f"{topic}-other")  # results without offsets: refused as well
    refused = run(servers, run_id, *flags, *other_group)
    assert refused.returncode == 2 and f"keyspace {topic} holds windows" in refused.stderr

    replay = run(servers, run_id, *flags, *other_group, "--start-from", "earliest", "--overwrite")
    assert replay.returncode == 0, replay.stderr[-3000:]
    everything = first + more
    assert int(r.hget(all_time + ":meta", "totalEvents")) == len(everything)
    assert stored_top(r, all_time) == ranked(exact_counts(iter(everything), 0)[0], 5)
    hour = spec.start_ms + H
    assert stored_top(r, window_key("1h", "all", "all", hour, topic)) == ranked(
        counts_between(everything, hour, hour + H), 5
    )


def test_the_archive_keeps_every_offset_once_across_restarts_with_and_without_state(servers, run_id):
    topic = f"rearchive_{run_id}"
    url = servers.archive_url(topic)
    spec = StreamSpec(6_000, 200, 1.1, aligned_start(H, 3), 2 * H, seed=23)
    events = list(generate(spec))
    ensure_topic(servers.kafka, topic, partitions=2)
    send(servers.kafka, topic, [encode(e) for e in events[:3_000]])
    flags = ("--topic", topic, "--group-id", topic, "--archive-url", url, "--dimensions", "region")
    assert run(servers, run_id, *flags, module="jobs.archive_job").returncode == 0

    send(servers.kafka, topic, [encode(e) for e in events[3_000:]])
    refused = run(servers, run_id, *flags, module="jobs.archive_job")
    assert refused.returncode == 2 and REFUSED in refused.stderr, refused.stderr[-3000:]
    assert f"the archive {url} holds records" in refused.stderr

    # Over its own files from the start: each offset is then in two files, read once.
    replay = run(servers, run_id, *flags, "--start-from", "earliest", "--overwrite", module="jobs.archive_job")
    assert replay.returncode == 0, replay.stderr[-3000:]
    filesystem, base = open_archive(url, servers.s3_endpoint)
    files = filesystem.get_file_info(fs.FileSelector(f"{base}/{EVENTS}", recursive=True))
    written = ds.dataset([f.path for f in files if f.type == fs.FileType.File], filesystem=filesystem).count_rows()
    assert written == len(events) + 3_000  # the first run's events written twice, on purpose
    table = archived(url, servers.s3_endpoint, EVENTS)  # and read once
    keys = pc.binary_join_element_wise(
        pc.cast(table["kafka_partition"], "string"), pc.cast(table["kafka_offset"], "string"), ":"
    )
    assert table.num_rows == len(events) == len(pc.unique(keys))
    counts, _ = EventArchive(url, servers.s3_endpoint).counts(spec.start_ms, spec.start_ms + 2 * H)
    assert counts == counts_between(events, spec.start_ms, spec.start_ms + 2 * H)
