"""Nothing lost, whatever a tenant sends or an operator restarts, on a standalone cluster.

``test_huge_records_and_a_tenant_stamping_ahead_change_nothing``: bad records of 900 KB and 5 MB (the
topic allows them) become dead letters of bounded size and neither job ever restarts; another tenant's
events stamped 50 minutes ahead (accepted under the old one-hour limit) make none of the default
tenant's on-time events late.

``test_a_soak_with_faults_leaves_every_closed_window_exact``: three tenants on one topic while the
TaskManager, a Python worker, Redis, Cassandra and the broker are killed or restarted and the jobs are
cancelled and resumed from their retained checkpoints (a plain rerun is refused); see its docstring.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import re
import time
from collections.abc import Callable

import numpy as np
import psutil
import pytest
import redis
from pyarrow import fs

from bench.workers import python_workers
from jobs.start import latest_checkpoint
from tests.bad_records import bad_records
from tests.integration.helpers import aligned_start, kill_tree, produce, read_topic, stored_top, wait_for
from tests.integration.helpers import flink_rest as rest
from tests.integration.test_archive import archived
from topk.generator.events import StreamSpec, encode, event_time_ms, exact_counts, generate
from topk.query.tenants import main as tenants_cli
from topk.sketches.accuracy import ranked
from topk.stores.archive_layout import DEAD_LETTERS, EVENTS, open_archive
from topk.stores.cassandra_connection import CassandraConnection, connect
from topk.stores.kafka_client import ensure_topic
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import tenant_prefix, window_key

pytestmark = pytest.mark.integration
H, M = 3_600_000, 60_000
K = 5
BIG = {"max.message.bytes": str(6 << 20)}  # the topic takes records of up to 6 MB
FLINK_PROPERTIES = """heartbeat.interval: 3000
heartbeat.timeout: 20000
restart-strategy.type: fixed-delay
restart-strategy.fixed-delay.attempts: 1000
restart-strategy.fixed-delay.delay: 2 s
"""


def job_id(done) -> str:
    return re.search(r"JobID ([0-9a-f]{32})", done.stdout).group(1)


def state(job: str) -> str:
    try:
        return rest(f"/jobs/{job}")["state"]
    except OSError:
        return "UNKNOWN"


def running(job: str) -> bool:
    """Whether the job and every one of its tasks run."""
    try:
        details = rest(f"/jobs/{job}")
    except OSError:
        return False
    return details["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in details["vertices"])


def on_time(events: list[dict]) -> list[tuple[bytes, int, None]]:
    """Records of ``events`` stamped in Kafka with their event time, as a producer sending them as they
    happen would."""
    return [(encode(e), event_time_ms(e), None) for e in events]


def of_tenant(events: list[dict], tenant: str | None) -> list[dict]:
    return [e for e in events if e["metadata"].get("tenantId") == tenant]


def event(tenant: str | None, ts: int, item: str, **payload: str) -> dict:
    metadata = {"eventType": "generic", "timestamp": ts, **({"tenantId": tenant} if tenant else {})}
    return {"metadata": metadata, "payload": {"itemId": item, **payload}}


def closed_minutes_exact(
    r: redis.Redis,
    session,
    keyspace: str,
    prefix: str,
    tenant: str,
    events: list[dict],
    upto: int,
    regions: tuple[str, ...] = (),
) -> None:
    """Every minute of ``events`` before ``upto``, in Redis (all and each region) and in Cassandra (all),
    equals the exact counts."""
    for dimension, value in [("all", "all"), *(("region", v) for v in regions)]:
        for minute, counts in exact_counts(iter(events), M, dimension, value).items():
            if minute >= upto:
                continue
            key = window_key("1m", dimension, value, minute, prefix)
            assert stored_top(r, key) == ranked(counts, K), (tenant, key)
            assert int(r.hget(key + ":meta", "totalEvents")) == sum(counts.values()), (tenant, key)
            if dimension == "all":
                rows = session.execute(
                    f"SELECT rank, item, estimate FROM {keyspace}.tenant_topk_items WHERE tenant = %s "
                    "AND window_size = '1m' AND dimension = 'all' AND dim_value = 'all' AND window_start = %s",
                    (tenant, minute),
                )
                stored = [(row.item, row.estimate) for row in sorted(rows, key=lambda row: row.rank)]
                assert stored == ranked(counts, K), (tenant, minute)


def test_huge_records_and_a_tenant_stamping_ahead_change_nothing(submit, servers, run_id):
    topic, start = f"huge_{run_id}", aligned_start(H, 2)
    good = list(generate(StreamSpec(3_000, 100, 1.1, start, 10 * M, seed=41)))
    third = start + 3 * M + 20_000
    ahead = [event("evil", third + i * 100 + 50 * M, f"e-{i % 3}") for i in range(20)]  # 50 minutes ahead
    huge = {b"{" + b"x" * 900_000: third, b"[" + b"y" * 5_000_000: third + 1}
    records = on_time(good) + [(encode(e), third + i * 100, i % 3) for i, e in enumerate(ahead)]
    records += [(raw, ts, None) for raw, ts in huge.items()]
    records.sort(key=lambda r: r[1])  # in Kafka time order, as they would have been produced
    ensure_topic(servers.kafka, topic, partitions=3, configs=BIG)
    produce(servers.kafka, topic, records, max_bytes=6 << 20)

    flags = (
        "--bounded",
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--group-id",
        topic,
        "--bootstrap-servers",
        servers.bootstrap,
        "--redis-url",
        servers.redis_url,
        "--redis-prefix",
        topic,
        "--cassandra-port",
        str(servers.cassandra_port),
        "--cassandra-keyspace",
        topic,
        "--windows",
        "1m,all",
        "--dimensions",
        "region",
        "--k",
        str(K),
        "--max-future-ms",
        str(H),
        "--config-topic",
        "",
    )
    archive = ("--archive-url", servers.archive_url(topic), "--s3-endpoint-url", servers.s3_endpoint)
    jobs = [job_id(submit("run", *flags)), job_id(submit("run", *flags, *archive, job="archive"))]
    try:
        assert wait_for(lambda: all(state(j) in ("FINISHED", "FAILED", "CANCELED") for j in jobs), 600)
        for j in jobs:  # no restart: the huge records were dead letters like any other
            assert state(j) == "FINISHED" and rest(f"/jobs/{j}/exceptions")["exceptionHistory"]["entries"] == []
    finally:
        for j in jobs:
            submit("cancel", j, check=False)

    letters = read_topic(servers.kafka, f"{topic}-dlq", expected=2)
    assert sorted(d["valueLength"] for d in letters) == [900_001, 5_000_001]
    for d in letters:
        assert d["reason"] in ("invalid_json", "not_an_object") and d["truncated"]
        raw = next(r for r in huge if len(r) == d["valueLength"])
        assert base64.b64decode(d["value"]) == raw[:65_536] and d["valueSha256"] == hashlib.sha256(raw).hexdigest()
    dead = archived(servers.archive_url(topic), servers.s3_endpoint, DEAD_LETTERS)
    assert sorted(dead["raw_length"].to_pylist()) == [900_001, 5_000_001]
    assert max(len(raw) for raw in dead["raw"].to_pylist()) == 65_536

    r = redis_connect(servers.redis_url)
    cluster, session = connect(CassandraConnection(port=servers.cassandra_port))
    try:  # every minute of the default tenant, though evil's stamps moved no watermark: none was late
        closed_minutes_exact(r, session, topic, topic, "default", good, start + 10 * M, ("eu-west", "us-east"))
    finally:
        cluster.shutdown()
    evil = window_key("1m", "all", "all", third - third % M + 50 * M, tenant_prefix(topic, "evil"))
    assert int(r.hget(evil + ":meta", "totalEvents")) == 20  # counted, in its own future minute


def tm_pid(pid_dir) -> int:
    """The running TaskManager's PID (Flink appends one line per TaskManager started)."""
    (path,) = pid_dir.glob("*taskexecutor*.pid")
    return next(int(p) for p in reversed(path.read_text().split()) if psutil.pid_exists(int(p)))


def test_a_soak_with_faults_leaves_every_closed_window_exact(submit, servers, run_id):
    """Tenants ``default`` and ``acme`` send on time; ``evil`` sends, within every limit the job
    accepts: events stamped 50 minutes ahead (the old one-hour limit), bursts over its quota of 5 a
    second, a 5 MB record and the bad-record corpus, and 20,000 events each with a new region. Meanwhile
    the TaskManager is killed (and another started), then a Python worker, Redis and Cassandra are
    restarted, then the broker, and both jobs are cancelled, refused a plain rerun and resumed from their
    latest retained checkpoints. At the end every closed minute, the hour of every group (regions with
    one event in it among them) and the all-time view of ``default`` and ``acme`` equal the exact counts
    in Redis and Cassandra, and the archive holds every offset of the topic exactly once."""
    topic, start = f"soak_{run_id}", aligned_start(H, 3)
    span = 70 * M
    default = list(generate(StreamSpec(28_000, 300, 1.1, start, span, seed=51)))
    # groups with one row in the hour, before each fault: their hour rests on one timer set long before it
    sparse = [event(None, start + m * M + 1_234, f"rare-{m}", region=f"sparse-{m}") for m in (3, 12, 22, 33, 47, 55)]
    default = sorted(default + sparse, key=event_time_ms)
    acme = list(generate(StreamSpec(8_000, 60, 0.7, start, span, seed=52, tenant="acme")))
    rng = np.random.default_rng(53)
    records = on_time(list(heapq.merge(default, acme, key=event_time_ms)))
    sent = [start + 20 * M + i * 100 for i in range(40)]  # stamped 50 minutes ahead of when they are sent
    records += [(encode(event("evil", t + 50 * M, f"ahead-{i % 5}")), t, None) for i, t in enumerate(sent)]
    burst = [event("evil", start + 25 * M + 1_000 + i, f"burst-{i % 9}") for i in range(300)]  # over its quota
    values = [
        event("evil", start + 35 * M + i * 20, f"v-{i % 50}", region=f"r{n:x}")
        for i, n in enumerate(rng.integers(1 << 40, size=20_000))
    ]
    records += on_time(burst + values)
    t_bad = start + 30 * M  # the corpus's records the job refuses at any --max-future-ms, and a 5 MB one
    records += [(raw, t_bad, None) for raw, why in bad_records(t_bad).items() if why != "too_far_ahead"]
    records += [(b"[" + b"z" * 5_000_000, t_bad, None)]
    records.sort(key=lambda r: r[1])
    records = [(value, ts, i % 3) for i, (value, ts, _) in enumerate(records)]  # every partition moves on
    closing = start + span + 2 * M  # one record a partition past the last minute closes it everywhere
    records += [(encode(event(None, closing, "closing")), closing, p) for p in range(3)]
    phases = [
        [r for r in records if lo <= r[1] < hi]
        for lo, hi in (
            (0, start + 15 * M),
            (start + 15 * M, start + 30 * M),
            (start + 30 * M, start + 45 * M),
            (start + 45 * M, 2**62),
        )
    ]

    ensure_topic(servers.kafka, topic, partitions=3, configs=BIG)
    config = ("--bootstrap-servers", servers.bootstrap, "--config-topic", f"{topic}-config")
    assert tenants_cli(["set", "--tenant", "evil", "--quota", "5", "--at", str(start), *config]) == 0
    flags = (
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--group-id",
        topic,
        *config,
        "--redis-url",
        servers.redis_url,
        "--redis-prefix",
        topic,
        "--cassandra-port",
        str(servers.cassandra_port),
        "--cassandra-keyspace",
        topic,
        "--windows",
        "1m,1h,all",
        "--dimensions",
        "region",
        "--k",
        str(K),
        "--max-future-ms",
        str(H),
        "--max-values",
        "100",
        "--checkpoint-interval-ms",
        "2000",
        "--archive-url",
        servers.archive_url(topic),
        "--s3-endpoint-url",
        servers.s3_endpoint,
        "--archive-flush-ms",
        "2000",
    )
    r = redis_connect(servers.redis_url)

    def written(minute: int, tenant: str = "default") -> Callable[[], bool]:
        return lambda: r.exists(window_key("1m", "all", "all", start + minute * M, tenant_prefix(topic, tenant)))

    def checkpointed(group: str) -> bool:  # conf/flink-conf.yaml's checkpoint dir, the job's group under it
        return bool(latest_checkpoint(f"s3://topk-checkpoints/checkpoints/{group}", servers.s3_endpoint))

    produce(servers.kafka, topic, phases[0], max_bytes=6 << 20)
    jobs = {"topk": job_id(submit("run", *flags)), "archive": job_id(submit("run", *flags, job="archive"))}
    try:
        assert wait_for(lambda: written(10)() and checkpointed(topic) and checkpointed(f"{topic}-archive"), 300)

        kill_tree(tm_pid(submit.pid_dir))  # the TaskManager and its Python workers
        submit("taskmanager-start")
        produce(servers.kafka, topic, phases[1], max_bytes=6 << 20)
        assert wait_for(lambda: all(running(j) for j in jobs.values()), 300)
        assert wait_for(written(25), 300)

        python_workers(tm_pid(submit.pid_dir))[0].kill()
        servers.ctl("stop", "redis", "cassandra")
        time.sleep(10)
        servers.ctl("start", "redis", "cassandra")
        produce(servers.kafka, topic, phases[2], max_bytes=6 << 20)
        assert wait_for(written(40), 400)

        servers.ctl("stop", "kafka")
        time.sleep(5)
        servers.ctl("start", "kafka")
        assert wait_for(lambda: all(running(j) for j in jobs.values()), 300)
        for name, job in jobs.items():  # cancelled: a rerun without state is refused, a resume goes on
            submit("cancel", job)
            assert wait_for(lambda job=job: state(job) == "CANCELED", 120)
            kind = {"job": name}
            refused = submit("run", *flags, check=False, **kind)
            assert refused.returncode != 0 and "refusing to start without state" in refused.stdout + refused.stderr
            jobs[name] = job_id(submit("resume", "latest", *flags, **kind))
            again = submit("resume", "latest", *flags, check=False, **kind)  # a second one would write alongside
            assert again.returncode != 0 and "runs on the cluster already" in again.stdout + again.stderr
        produce(servers.kafka, topic, phases[3], max_bytes=6 << 20)
        last = exact_counts(iter(default), M)
        assert wait_for(lambda: written(69)() and written(69, "acme")() and written(60), 400), "not every minute"
        groups = [(t, "all", "all") for t in ("default", "acme")]
        groups += [(t, "region", v) for t, evs in (("default", default), ("acme", acme)) for v in regions(evs)]
        hours = {g: window_key("1h", g[1], g[2], start, tenant_prefix(topic, g[0])) for g in groups}
        assert wait_for(lambda: all(r.exists(h) for h in hours.values()), 120), [
            g for g, h in hours.items() if not r.exists(h)
        ]

        cluster, session = connect(CassandraConnection(port=servers.cassandra_port))
        try:
            closed_minutes_exact(r, session, topic, topic, "default", default, start + span, ("eu-west", "us-west"))
            closed_minutes_exact(r, session, topic, tenant_prefix(topic, "acme"), "acme", acme, start + span)
        finally:
            cluster.shutdown()
        for (tenant, dimension, value), key in hours.items():
            events = default if tenant == "default" else acme
            hour = exact_counts(iter(events), H, dimension, value)[start]
            assert stored_top(r, key) == ranked(hour, K), key
        for tenant, events in (("default", default), ("acme", acme)):
            prefix = tenant_prefix(topic, tenant)
            hour = exact_counts(iter(events), H)[start]
            all_time = window_key("all", "all", "all", 0, prefix)
            assert int(r.hget(all_time + ":meta", "totalEvents")) == sum(hour.values()), tenant  # one hour closed
        assert sorted(last)[-1] < start + span

        retained = checkpoint_jobs(servers, topic)  # the cancelled job's checkpoint, taken over, was discarded
        assert wait_for(lambda: checkpoint_jobs(servers, topic) == {jobs["topk"]}, 120), retained
        total = len(records)  # the archive: every offset of the topic once, events and dead letters
        assert wait_for(lambda: len(archived_offsets(servers, topic)) >= total, 300), archive_gaps(
            servers, topic, records, jobs["archive"]
        )
        assert len(archived_offsets(servers, topic)) == total
    finally:
        for job in jobs.values():
            submit("cancel", job, check=False)


def regions(events: list[dict]) -> set[str]:
    return {e["payload"]["region"] for e in events if "region" in e["payload"]}


def checkpoint_jobs(servers, group: str) -> set[str]:
    """The ids of the jobs with a retained checkpoint under the group's checkpoint dir."""
    s3, root = open_archive(f"s3://topk-checkpoints/checkpoints/{group}", servers.s3_endpoint)
    found = s3.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True))
    return {f.path.split("/")[-3] for f in found if f.path.endswith("/_metadata") and "/chk-" in f.path}


def archived_offsets(servers, topic: str) -> set[tuple[int, int]]:
    """The (partition, offset) pairs in the archive, checking none is there twice."""
    keys = []
    for dataset in (EVENTS + "/tenant=default", EVENTS + "/tenant=acme", EVENTS + "/tenant=evil", DEAD_LETTERS):
        table = archived(servers.archive_url(topic), servers.s3_endpoint, dataset)
        if table is not None:
            keys += zip(table["kafka_partition"].to_pylist(), table["kafka_offset"].to_pylist(), strict=True)
    assert len(keys) == len(set(keys)), "an offset archived twice"
    return set(keys)


def archive_gaps(servers, topic: str, records: list[tuple[bytes, int, int]], job: str) -> str:
    """Why the archive lacks offsets: those missing per partition, as ranges, the archive's last 60
    files by path, and the archive job's state, checkpoint counts and latest exceptions."""
    held = archived_offsets(servers, topic)
    lines = [f"archived {len(held)} of {len(records)}"]
    for p in sorted({r[2] for r in records}):
        missing = sorted(set(range(sum(r[2] == p for r in records))) - {o for q, o in held if q == p})
        runs = [(o, o) for o in missing[:1]]
        for o in missing[1:]:
            runs[-1:] = [(runs[-1][0], o)] if o == runs[-1][1] + 1 else [runs[-1], (o, o)]
        lines.append(f"partition {p}: {len(missing)} missing, ranges {runs[:10]}")
    s3, root = open_archive(servers.archive_url(topic), servers.s3_endpoint)
    found = s3.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True))
    lines += sorted(f.path.removeprefix(root) for f in found if f.type == fs.FileType.File)[-60:]
    try:
        details, history = rest(f"/jobs/{job}"), rest(f"/jobs/{job}/exceptions")["exceptionHistory"]["entries"]
        lines.append(f"job {details['state']}: {[(v['name'], v['status'], v['metrics']) for v in details['vertices']]}")
        checkpoints = rest(f"/jobs/{job}/checkpoints")
        lines.append(f"checkpoints {checkpoints['counts']}, restored {checkpoints['latest'].get('restored')}")
        lines += [e["stacktrace"][:1500] for e in history[:3]]
    except OSError as e:
        lines.append(f"job {job}: {e}")
    return "\n".join(lines)
