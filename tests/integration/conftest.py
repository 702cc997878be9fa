"""Real servers for integration tests: started by scripts/servers.sh on test ports, stopped by PID.

They run secured, as in production (``TOPK_SECURE=1``): Redis and Cassandra require passwords (every
test and job gets them from the environment, see ``topk.stores.secrets``) and also accept TLS; Kafka
has a SASL_SSL listener beside the plaintext one; a three-master Redis Cluster runs beside Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cassandra.cluster import NoHostAvailable
from fastapi.testclient import TestClient
from pyarrow import fs

from tests.integration.helpers import (
    CAPACITY,
    TENANT,
    WINDOWS,
    K,
    aligned_start,
    kill_tree,
    open_queries,
    publish,
    wait_for,
)
from topk.generator.events import StreamSpec, exact_counts, generate
from topk.query.api import ApiConfig, create_app
from topk.query.archive import EventArchive
from topk.sketches.accuracy import ranked
from topk.stores.archive_layout import open_archive
from topk.stores.cassandra_connection import CassandraConnection, connect
from topk.stores.kafka_client import KafkaClient

ROOT = Path(__file__).resolve().parents[2]
H = 3_600_000
PORTS = {
    "KAFKA_PORT": "19092",
    "REDIS_PORT": "16379",
    "CASSANDRA_PORT": "19042",
    "S3_PORT": "17333",
    "REDIS_CLUSTER_PORT": "17000",
}
SERVERS = ("kafka", "redis", "cassandra", "s3", "redis-cluster")
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "topk-test", "AWS_SECRET_ACCESS_KEY": "topk-test-secret"}
SECRETS = {  # the servers take them from here (files, not command lines); clients from the environment
    "TOPK_REDIS_PASSWORD": "redis-test-secret",
    "TOPK_KAFKA_PASSWORD": "kafka-test-secret",
    "TOPK_CASSANDRA_USERNAME": "topk",  # a role the fixture creates as Cassandra's default superuser
    "TOPK_CASSANDRA_PASSWORD": "cassandra-test-secret",
}
CASSANDRA_DEFAULT_LOGIN = {"TOPK_CASSANDRA_USERNAME": "cassandra", "TOPK_CASSANDRA_PASSWORD": "cassandra"}
SECURE_KAFKA_PROPERTIES = """security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\
    username="topk" password="${{env:TOPK_KAFKA_PASSWORD}}";
ssl.truststore.type=PEM
ssl.truststore.location={ca}
"""


@dataclass(frozen=True)
class Servers:
    bootstrap: str
    redis_url: str
    cassandra_port: int
    s3_endpoint: str
    env: dict[str, str]
    state: Path

    @property
    def kafka(self) -> KafkaClient:
        return KafkaClient(self.bootstrap)

    @property
    def tls_ca(self) -> str:
        """The local CA that signed every server's certificate (scripts/tls.sh)."""
        return str(self.state / "tls" / "ca.pem")

    @property
    def secure_bootstrap(self) -> str:
        return f"127.0.0.1:{int(PORTS['KAFKA_PORT']) + 2}"

    @property
    def secure_kafka_properties(self) -> str:
        """A client properties file for the SASL_SSL listener (the password as an ${env:...} reference)."""
        path = self.state / "kafka-client.properties"
        path.write_text(SECURE_KAFKA_PROPERTIES.format(ca=self.tls_ca))
        return str(path)

    @property
    def redis_tls_url(self) -> str:
        return f"rediss://127.0.0.1:{int(PORTS['REDIS_PORT']) + 1}/0?ssl_ca_certs={self.tls_ca}"

    @property
    def redis_cluster_url(self) -> str:
        return f"redis+cluster://127.0.0.1:{PORTS['REDIS_CLUSTER_PORT']}"

    def archive_url(self, name: str) -> str:
        """A fresh archive location in the local S3 server's bucket."""
        return f"s3://topk-archive/{name}"

    def checkpoints_url(self, name: str) -> str:
        """A fresh checkpoint location on the local S3 server (Flink's S3 plugin), as in production."""
        return f"s3://topk-checkpoints/tests/{name}"

    def checkpoints(self, name: str) -> list[str]:
        """The completed checkpoints (``chk-N`` with its ``_metadata``) of job ``name`` on S3."""
        s3, root = open_archive(self.checkpoints_url(name), self.s3_endpoint)
        found = s3.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True))
        return sorted(f.path.split("/")[-2] for f in found if f.path.endswith("/_metadata") and "/chk-" in f.path)

    def ctl(self, action: str, *names: str) -> None:
        """``scripts/servers.sh start|stop NAME...`` on these servers (outage tests)."""
        script = str(ROOT / "scripts/servers.sh")
        subprocess.run(["bash", script, action, *names], env=self.env, check=True, timeout=300)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    os.environ.update(S3_CREDENTIALS | SECRETS | CASSANDRA_DEFAULT_LOGIN)
    state = tmp_path_factory.mktemp("servers")
    env = {**os.environ, **PORTS, "TOPK_STATE_DIR": str(state), "TOPK_SECURE": "1"}
    script = str(ROOT / "scripts" / "servers.sh")
    try:
        subprocess.run(["bash", script, "start", *SERVERS], env=env, check=True, timeout=300)
        port = int(PORTS["CASSANDRA_PORT"])
        assert wait_for(lambda: cassandra_login(port), 60), "Cassandra refused the default login"
        create_cassandra_role(port, SECRETS)
        os.environ.update(SECRETS)  # for the jobs (subprocesses) and the query side (this process)
        yield Servers(
            bootstrap=f"127.0.0.1:{PORTS['KAFKA_PORT']}",
            redis_url=f"redis://127.0.0.1:{PORTS['REDIS_PORT']}/0",
            cassandra_port=int(PORTS["CASSANDRA_PORT"]),
            s3_endpoint=f"http://127.0.0.1:{PORTS['S3_PORT']}",
            env=env,
            state=state,
        )
    finally:
        subprocess.run(["bash", script, "stop", *SERVERS], env=env, timeout=300)


def cassandra_login(port: int) -> bool:
    """Whether Cassandra takes the test credentials yet (it sets up its superuser after opening its port)."""
    try:
        connect(CassandraConnection(port=port))[0].shutdown()
        return True
    except (ValueError, NoHostAvailable):
        return False


def create_cassandra_role(port: int, secrets: dict[str, str]) -> None:
    """The test role (a superuser with its own password), created as the default superuser."""
    cluster, session = connect(CassandraConnection(port=port))
    try:
        role = secrets["TOPK_CASSANDRA_USERNAME"]
        session.execute(
            f"CREATE ROLE IF NOT EXISTS {role} WITH PASSWORD = %s AND LOGIN = true AND SUPERUSER = true",
            (secrets["TOPK_CASSANDRA_PASSWORD"],),
        )
    finally:
        cluster.shutdown()


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def run_job(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., None]:
    """Runs a job (``module``) on a local MiniCluster until the bounded source ends."""

    def run(*args: str, module: str = "jobs.topk_job", timeout: int = 900) -> None:
        cmd = job_command(servers, tmp_path_factory.mktemp("job").name, module, "--bounded", *args)
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    return run


@pytest.fixture
def start_job(servers: Servers, run_id: str) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts a job (``module``, with ``env`` added to its environment) on a local MiniCluster in the
    background (checkpoints on S3 under ``servers.checkpoints_url(run_id)``); whatever is still running at
    the end is killed by PID, with its children."""
    started: list[subprocess.Popen] = []

    def start(*args: str, module: str = "jobs.topk_job", env: dict[str, str] | None = None) -> subprocess.Popen:
        cmd = job_command(servers, run_id, module, *args)
        # the venv's python first on PATH: a worker run as a process is started as `python` (python.executable)
        path = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        full = {**os.environ, **path, **(env or {})}
        job = subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(job)
        return job

    yield start
    for job in started:
        kill_tree(job.pid)
        job.wait(timeout=60)


@pytest.fixture(scope="module")
def submit(tmp_path_factory: pytest.TempPathFactory, servers: Servers, request: pytest.FixtureRequest) -> Iterator:
    """``submit(*args)`` runs scripts/submit.sh (``job="archive"``: for the archive job) with a standalone
    cluster of the module's own (conf, logs, PIDs in tmp, ``submit.pid_dir``; the module's
    ``FLINK_PROPERTIES``, if any, added to its config), checkpointing to the local S3 server
    (credentials in the environment, see ``servers``)."""
    base = tmp_path_factory.mktemp("flink")
    env = {**os.environ, **{f"FLINK_{d}_DIR": str(base / d.lower()) for d in ("CONF", "LOG", "PID")}}
    env["TOPK_S3_ENDPOINT"] = servers.s3_endpoint
    env["FLINK_PROPERTIES"] = getattr(request.module, "FLINK_PROPERTIES", "")

    def run(*args: str, check: bool = True, job: str = "topk") -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["bash", str(ROOT / "scripts/submit.sh"), *args],
            env={**env, "TOPK_JOB": job},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert not check or done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    run.pid_dir = base / "pid"  # type: ignore[attr-defined]
    try:
        run("cluster-start")
        yield run
    finally:
        run("cluster-stop", check=False)


def job_command(servers: Servers, name: str, module: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        module,
        "--bootstrap-servers",
        servers.bootstrap,
        "--redis-url",
        servers.redis_url,
        "--cassandra-port",
        str(servers.cassandra_port),
        "--checkpoint-dir",
        servers.checkpoints_url(name),
        "--checkpoint-interval-ms",
        "1000",
        "--s3-endpoint-url",
        servers.s3_endpoint,
        *args,
    ]


@pytest.fixture(scope="session")
def stored(servers, run_job):
    """A 3-hour skewed stream through the real top-K job and the archive job, with the API started
    before anything was stored (it answers, not ready, then serves the job's windows without a
    restart); returns (spec, run id: topic, keyspace, Redis prefix and archive name, events). Tenant
    ``TENANT``'s events share the topic (``tenant_stored``)."""
    run_id = f"q{int(time.time())}"
    spec = StreamSpec(12_000, 1_000, 1.2, aligned_start(H, 4), 3 * H, seed=11)
    early = TestClient(create_app(open_queries(servers, run_id), ApiConfig(WINDOWS)))
    assert early.get("/health/ready").json() == {"ready": False, "redis": True, "cassandra": False}
    range_params = {"start": str(spec.start_ms), "end": str(spec.start_ms + 3 * H)}
    empty = early.get("/api/v1/topk/historical", params=range_params)
    assert empty.status_code == 200 and empty.json()["results"] == []
    assert early.get("/api/v1/topk", params={"window": "1h"}).status_code == 404

    events = publish(servers.kafka, run_id, spec, also=second_tenant(spec))
    common = ("--topic", run_id, "--group-id", run_id, "--dimensions", "region")
    run_job(
        *common,
        "--dead-letter-topic",
        f"{run_id}-dlq",
        "--windows",
        "1m,1h,all",
        "--k",
        str(K),
        "--capacity",
        str(CAPACITY),
        "--cassandra-keyspace",
        run_id,
        "--redis-prefix",
        run_id,
    )
    run_job(*common, "--archive-url", servers.archive_url(run_id), module="jobs.archive_job")

    assert early.get("/health/ready").json()["ready"]  # the same app, no restart
    served = early.get("/api/v1/topk/historical", params={**range_params, "k": 3}).json()
    assert [r["item"] for r in served["results"]] == [x for x, _ in ranked(exact_counts(iter(events), 0)[0], 3)]
    return spec, run_id, events


def second_tenant(spec: StreamSpec) -> list[dict]:
    """Tenant ``TENANT``'s events, over the same hours as ``spec``'s."""
    return list(generate(StreamSpec(3_000, 40, 0.6, spec.start_ms, 3 * H, seed=12, tenant=TENANT)))


@pytest.fixture(scope="session")
def tenant_stored(stored) -> list[dict]:
    """Tenant ``TENANT``'s events in ``stored``'s topic."""
    return second_tenant(stored[0])


@pytest.fixture(scope="session")
def queries(servers, stored):
    run_id = stored[1]
    yield open_queries(servers, run_id, archive=EventArchive(servers.archive_url(run_id), servers.s3_endpoint))
