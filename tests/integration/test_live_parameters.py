"""Tenants' live parameters (``topk.tenant_config``) on a standalone cluster, set with the CLI while
the job runs, through a stop with savepoint and a resume: see the test's docstring."""

from __future__ import annotations

import heapq
import json
import re

import pytest

from tests.integration.helpers import aligned_start, read_topic, scrape, stored_top, wait_for
from topk.generator.events import StreamSpec, encode, event_time_ms, exact_counts, generate
from topk.generator.produce import send
from topk.query.tenants import main as tenants_cli
from topk.sketches.accuracy import ranked
from topk.stores.config_topic import write
from topk.stores.kafka_client import KafkaSettings, ensure_topic
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import window_key

pytestmark = pytest.mark.integration
MINUTE = 60_000


def test_tenant_parameters_change_live_and_survive_a_stop_with_savepoint(submit, servers, run_id):
    """Three tenants in one topic with parameters of their own from the config topic, set with the CLI:
    alpha (k 3, dimension region) has its k changed to 2 from minute 8 while the job runs, then the job
    is stopped with a savepoint and resumed (the change is in its broadcast state, not re-read);
    beta (k 5, capacity 300, region and category) gets two bad records that change nothing; gamma has
    a quota of 2 events a second. Every closed minute equals the exact counts with the k in force."""
    start, topic = aligned_start(MINUTE, 30), f"tc_{run_id}"
    alpha = list(generate(StreamSpec(2_400, 150, 0.8, start, 12 * MINUTE, seed=21, tenant="alpha")))
    beta = list(generate(StreamSpec(2_400, 150, 0.9, start, 12 * MINUTE, seed=22, tenant="beta")))
    gamma = [event_of("gamma", start + MINUTE + i * 200, f"g-{i % 7}") for i in range(300)]  # 5 a second
    events = list(heapq.merge(alpha, beta, gamma, key=event_time_ms))
    cut = next(i for i, e in enumerate(events) if event_time_ms(e) >= start + 6 * MINUTE)
    kafka = ("--bootstrap-servers", servers.bootstrap, "--config-topic", f"{topic}-config")

    def configure(tenant: str, *flags: str, at: int = start) -> None:
        assert tenants_cli(["set", "--tenant", tenant, *flags, "--at", str(at), *kafka]) == 0

    configure("alpha", "--k", "3", "--dimensions", "region")
    configure("beta", "--k", "5", "--capacity", "300", "--dimensions", "region,category")
    configure("gamma", "--quota", "2")
    flags = (
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--redis-url",
        servers.redis_url,
        "--cassandra-port",
        str(servers.cassandra_port),
        "--windows",
        "1m,all",
        "--dimensions",
        "region,category",
        "--k",
        "10",
        "--checkpoint-interval-ms",
        "2000",
        *kafka,
        "--group-id",
        topic,
        "--redis-prefix",
        topic,
        "--cassandra-keyspace",
        topic,
    )
    ensure_topic(servers.kafka, topic, partitions=1)
    send(servers.kafka, topic, [encode(e) for e in events[:cut]])
    r = redis_connect(servers.redis_url)
    job = re.search(r"JobID ([0-9a-f]{32})", submit("run", *flags).stdout).group(1)
    assert wait_for(lambda: r.exists(window_key("1m", "all", "all", start + 3 * MINUTE, f"{topic}/alpha")))

    configure("alpha", "--k", "2", "--dimensions", "region", at=start + 8 * MINUTE - 1)  # from minute 8
    configure("beta", "--windows", "1m,5m")  # the job has no 5m: dead-lettered
    write(KafkaSettings(servers.bootstrap, config_topic=f"{topic}-config"), [(b"beta", b'{"k": 4', start)])
    letters = read_topic(servers.kafka, f"{topic}-dlq", expected=2 + 300 - 120)  # after the change, in order
    bad = [d for d in letters if d["reason"] == "bad_config"]
    assert [d["detail"] for d in bad] == ['unknown window "5m" (the job has 1m,all)', "invalid JSON"], bad
    assert bad[0]["topic"] == f"{topic}-config"
    assert sum(d["reason"] == "over_quota" for d in letters) == 300 - 120
    assert scrape(r'tenant_overQuota\{.*tenant="gamma".*\} 180\.0')  # the gate's per-tenant metrics
    assert scrape(r'tenant_eventsCounted\{.*tenant="gamma".*\} 120\.0')
    savepoint = re.search(r"Savepoint completed\. Path: (\S+)", submit("stop", job).stdout).group(1)

    send(servers.kafka, topic, [encode(e) for e in events[cut:]])
    job = re.search(r"JobID ([0-9a-f]{32})", submit("resume", savepoint, *flags).stdout).group(1)
    last_closed = start + 10 * MINUTE
    regions = [("region", v) for v in ("eu-west", "us-east", "ap-south", "us-west")]
    categories = [("category", v) for v in ("books", "electronics", "music", "sports", "toys")]
    expected = {  # key -> (exact top-k, k in force), every closed minute of every group
        **closed_minutes(
            alpha,
            f"{topic}/alpha",
            last_closed,
            [("all", "all"), *regions],
            lambda m: 3 if m < start + 8 * MINUTE else 2,
        ),
        **closed_minutes(beta, f"{topic}/beta", last_closed, [("all", "all"), *regions, *categories], lambda m: 5),
    }
    try:
        assert wait_for(lambda: all(r.exists(key) for key in expected))
    finally:
        submit("cancel", job, check=False)
    for key, (top, k) in expected.items():
        assert stored_top(r, key) == top, key
        params = json.loads(r.hget(f"{key}:meta", "params"))
        assert params["k"] == k and params["effective"] <= int(key.rsplit(":", 1)[1]) * MINUTE, (key, params)
    assert not list(r.scan_iter(f"{{{topic}/alpha:1m:category:*"))  # alpha counts region only
    beta_meta = r.hgetall(window_key("1m", "all", "all", last_closed, f"{topic}/beta") + ":meta")
    assert json.loads(beta_meta["params"])["windows"] == ["1m", "all"] and beta_meta["capacity"] == "300"
    admitted = [e for i, e in enumerate(gamma) if i % 5 < 2]  # the first 2 of each second, in topic order
    gamma_minute = window_key("1m", "all", "all", start + MINUTE, f"{topic}/gamma")
    assert stored_top(r, gamma_minute) == ranked(exact_counts(iter(admitted), MINUTE)[start + MINUTE], 10)
    assert r.hget(f"{gamma_minute}:meta", "totalEvents") == "120"


def closed_minutes(events: list[dict], prefix: str, last: int, groups, k_at) -> dict[str, tuple[list, int]]:
    """Each group's minute windows up to ``last``: key -> (exact top-k, k) with ``k_at(minute)``."""
    return {
        window_key("1m", dimension, value, minute, prefix): (ranked(counts, k_at(minute)), k_at(minute))
        for dimension, value in groups
        for minute, counts in exact_counts(iter(events), MINUTE, dimension, value).items()
        if minute <= last
    }


def event_of(tenant: str, ts: int, item: str) -> dict:
    metadata = {"eventType": "generic", "timestamp": ts, "tenantId": tenant}
    return {"metadata": metadata, "payload": {"itemId": item, "region": "eu-west"}}
