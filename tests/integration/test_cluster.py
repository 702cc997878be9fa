"""scripts/submit.sh against a real local standalone cluster: the job runs there, results reach
Redis, the job's metrics are on the Prometheus endpoint while it runs, Prometheus fires the job alert
when it stops, and stop with a savepoint, resume and replay reproduce the results."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.integration.helpers import (
    WINDOWS,
    aligned_start,
    open_queries,
    publish,
    scrape,
    serving,
    stored_top,
    wait_for,
)
from tests.integration.helpers import (
    flink_rest as rest,
)
from topk.generator.events import StreamSpec, encode, exact_counts, generate
from topk.generator.produce import send
from topk.query.api import ApiConfig, create_app
from topk.sketches.accuracy import ranked
from topk.stores.kafka_client import ensure_topic
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import window_key

pytestmark = pytest.mark.integration
MINUTE = 60_000
PROMETHEUS_PORT = 19090
ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docker" / "grafana" / "dashboards" / "topk.json"


def test_job_runs_on_a_standalone_cluster_with_metrics(submit, servers, run_id):
    topic, start = f"cluster_{run_id}", aligned_start(MINUTE, 10)
    spec = StreamSpec(3_000, 40, 1.1, start, 5 * MINUTE, seed=3)
    events = publish(servers.kafka, topic, spec, extra=(b"{not json",))

    done = submit(
        "run",
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--group-id",
        run_id,
        "--bootstrap-servers",
        servers.bootstrap,
        "--redis-url",
        servers.redis_url,
        "--cassandra-port",
        str(servers.cassandra_port),
        "--cassandra-keyspace",
        f"c{run_id}",
        "--windows",
        "1m,all",
        "--dimensions",
        "region",
        "--k",
        "5",
        "--checkpoint-interval-ms",
        "2000",
    )
    job_id = re.search(r"JobID ([0-9a-f]{32})", done.stdout).group(1)
    try:
        assert job_id in submit("list").stdout
        r = redis_connect(servers.redis_url)
        first = exact_counts(iter(events), MINUTE)[start]
        key = window_key("1m", "all", "all", start)
        deadline = time.monotonic() + 240
        while not r.exists(key) and time.monotonic() < deadline:
            time.sleep(2)
        assert stored_top(r, key) == ranked(first, 5)

        assert scrape(r"topk_windowsEmitted\{.*\} [1-9]")
        assert scrape(r"topk_eventsCounted\{.*\} [1-9]")
        # the per-row time as Prometheus sees it (a PyFlink distribution would be exported as 0)
        assert scrape(r"topk_sketchUpdates\{.*\} [1-9]") and scrape(r"topk_sketchUpdateMicros\{.*\} [1-9]")
        assert scrape(r"deadLetters_invalid_json\{.*\} 1\.0")
    finally:
        submit("cancel", job_id, check=False)


def test_submit_fails_fast_on_bad_settings(submit, servers):
    bad_k = submit("run", "--bootstrap-servers", servers.bootstrap, "--k", "50", "--capacity", "10", check=False)
    assert bad_k.returncode == 2 and "k <= capacity" in bad_k.stderr
    no_broker = submit("run", "--bootstrap-servers", "127.0.0.1:1", check=False)
    assert no_broker.returncode == 2 and "no Kafka broker reachable at 127.0.0.1:1" in no_broker.stderr
    bad_window = submit("run", "--bootstrap-servers", servers.bootstrap, "--windows", "1m,7x", check=False)
    assert bad_window.returncode == 2 and "7x" in bad_window.stderr


def test_stop_with_savepoint_resume_and_replay_reproduce_the_results(submit, servers, run_id):
    spec = StreamSpec(6_000, 50, 1.1, aligned_start(MINUTE, 20), 10 * MINUTE, seed=9)
    events = list(generate(spec))
    first, second = events[: len(events) // 2], events[len(events) // 2 :]  # generate() is in event-time order
    topic, replayed = f"sp_{run_id}", f"rp_{run_id}"
    flags = (
        "--topic",
        topic,
        "--dead-letter-topic",
        f"{topic}-dlq",
        "--bootstrap-servers",
        servers.bootstrap,
        "--redis-url",
        servers.redis_url,
        "--cassandra-port",
        str(servers.cassandra_port),
        "--windows",
        "1m,all",
        "--dimensions",
        "region",
        "--k",
        "5",
        "--checkpoint-interval-ms",
        "2000",
    )
    ensure_topic(servers.kafka, topic, partitions=1)
    send(servers.kafka, topic, [encode(e) for e in first])
    r = redis_connect(servers.redis_url)
    minutes = exact_counts(iter(events), MINUTE)
    closed = sorted(minutes)[:-1]  # the last minute needs a later event to close

    live = ("--group-id", topic, "--redis-prefix", topic, "--cassandra-keyspace", topic)
    job = re.search(r"JobID ([0-9a-f]{32})", submit("run", *flags, *live).stdout).group(1)
    assert wait_for(lambda: r.exists(window_key("1m", "all", "all", closed[2], topic)))
    stopped = submit("stop", job).stdout
    savepoint = re.search(r"Savepoint completed\. Path: (\S+)", stopped).group(1)
    assert savepoint.startswith("s3://topk-checkpoints/savepoints/"), savepoint
    send(servers.kafka, topic, [encode(e) for e in second])
    job = re.search(r"JobID ([0-9a-f]{32})", submit("resume", savepoint, *flags, *live).stdout).group(1)
    try:
        assert wait_for(lambda: r.exists(window_key("1m", "all", "all", closed[-1], topic)))
    finally:
        submit("cancel", job, check=False)
    for m in closed:
        assert stored_top(r, window_key("1m", "all", "all", m, topic)) == ranked(minutes[m], 5), m
        meta = r.hgetall(window_key("1m", "all", "all", m, topic) + ":meta")
        assert int(meta["totalEvents"]) == sum(minutes[m].values()), m

    done = submit("replay", "--from", "earliest", "--into", replayed, *flags)
    job = re.search(r"JobID ([0-9a-f]{32})", done.stdout).group(1)
    try:
        assert wait_for(lambda: r.exists(window_key("1m", "all", "all", closed[-1], replayed)))
    finally:
        submit("cancel", job, check=False)
    for m in closed:
        for region in ("all", "eu-west", "us-east"):
            dim = "all" if region == "all" else "region"
            assert stored_top(r, window_key("1m", dim, region, m, replayed)) == stored_top(
                r, window_key("1m", dim, region, m, topic)
            ), (m, region)


def test_prometheus_fires_the_job_alert_when_the_job_stops_and_clears_it_when_one_runs(
    submit, servers, run_id, tmp_path
):
    """Debian's Prometheus (scripts/servers.sh) with docker/alerts.yml, scraping this cluster and the API
    (with its token) every second: every metric the dashboard reads is there once the job counts events,
    and the job alert fires when it is cancelled and clears when a job runs again."""
    token = tmp_path / "api_token"
    token.write_text("alerts-test-token")
    topic = f"alert_{run_id}"
    app = create_app(open_queries(servers, topic), ApiConfig(WINDOWS, api_token=token.read_text()))
    with serving(app) as api:
        env = {**servers.env, "TOPK_STATE_DIR": str(tmp_path), "PROMETHEUS_PORT": str(PROMETHEUS_PORT)}
        env |= {
            "PROMETHEUS_INTERVAL": "1s",
            "PROMETHEUS_API_TARGET": api.split("//")[1],
            "TOPK_API_TOKEN_FILE": str(token),
        }

        def prometheus(action: str) -> None:
            script = str(ROOT / "scripts/servers.sh")
            subprocess.run(["bash", script, action, "prometheus"], env=env, check=True, timeout=120)

        # events (and a bad record) for every operator to report its metrics: Python's report once they count
        publish(servers.kafka, topic, StreamSpec(600, 30, 1.1, aligned_start(MINUTE, 5), 3 * MINUTE), (b"{bad",))
        flags = (
            "--topic",
            topic,
            "--bootstrap-servers",
            servers.bootstrap,
            "--redis-url",
            servers.redis_url,
            "--cassandra-port",
            str(servers.cassandra_port),
            "--windows",
            "1m,all",
            "--dimensions",
            "region",
            "--checkpoint-interval-ms",
            "2000",
            "--redis-prefix",
            topic,
        )
        prometheus("start")
        job = None
        try:
            job = job_id(submit("run", *flags, "--group-id", f"{topic}-1", "--cassandra-keyspace", f"a{run_id}1"))
            auth = {"Authorization": f"Bearer {token.read_text()}"}
            urllib.request.urlopen(urllib.request.Request(f"{api}/api/v1/windows", headers=auth), timeout=10).close()
            wanted = dashboard_metrics()

            def missing() -> set[str]:
                return wanted - set(prometheus_api("label/__name__/values"))

            assert wait_for(lambda: not missing(), 240), (sorted(missing()), cluster_state())
            assert instant("flink_jobmanager_numRunningJobs") == [1.0] and instant('up{job="topk-api"}') == [1.0]
            assert "TopKJobNotRunning" not in alerts()
            submit("cancel", job)
            job = None
            assert wait_for(lambda: alerts().get("TopKJobNotRunning") == "firing", 180), alerts()
            job = job_id(submit("run", *flags, "--group-id", f"{topic}-2", "--cassandra-keyspace", f"a{run_id}2"))
            assert wait_for(lambda: "TopKJobNotRunning" not in alerts(), 120), alerts()
        finally:
            if job:
                submit("cancel", job, check=False)
            prometheus("stop")


def dashboard_metrics() -> set[str]:
    """The metric names the committed dashboard's queries read."""
    exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
    return {m for e in exprs for m in re.findall(r"\b(?:flink|topk)_[A-Za-z0-9_]+", e)}


def job_id(done: subprocess.CompletedProcess) -> str:
    return re.search(r"JobID ([0-9a-f]{32})", done.stdout).group(1)


def prometheus_api(path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/{path}", timeout=10) as page:
        return json.loads(page.read())["data"]


def instant(query: str) -> list[float]:
    return [float(r["value"][1]) for r in prometheus_api("query?" + urlencode({"query": query}))["result"]]


def cluster_state() -> dict:
    """What a failed wait needs to be told apart: the jobs' states, the TaskManagers and their free
    slots, and each scrape target's health (a Flink port no process holds is refused)."""
    targets = prometheus_api("targets")["activeTargets"]
    return {
        "jobs": rest("/jobs/overview")["jobs"],
        "taskmanagers": [(t["id"], t["freeSlots"]) for t in rest("/taskmanagers")["taskmanagers"]],
        "targets": [(t["scrapeUrl"], t["health"], t["lastError"][:200]) for t in targets],
    }


def alerts() -> dict[str, str]:
    """Alert name -> state (pending or firing) of the alerts Prometheus has now."""
    return {a["labels"]["alertname"]: a["state"] for a in prometheus_api("alerts")["alerts"]}
