"""Real servers for integration tests: started by scripts/servers.sh on test ports, stopped by PID."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"KAFKA_PORT": "19092", "REDIS_PORT": "16379", "CASSANDRA_PORT": "19042"}


@dataclass(frozen=True)
class Servers:
    bootstrap: str
    redis_url: str
    cassandra_port: int


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    env = {**os.environ, **PORTS, "TOPK_STATE_DIR": str(tmp_path_factory.mktemp("servers"))}
    script = str(ROOT / "scripts" / "servers.sh")
    try:
        subprocess.run(["bash", script, "start"], env=env, check=True, timeout=300)
        yield Servers(
            bootstrap=f"127.0.0.1:{PORTS['KAFKA_PORT']}",
            redis_url=f"redis://127.0.0.1:{PORTS['REDIS_PORT']}/0",
            cassandra_port=int(PORTS["CASSANDRA_PORT"]),
        )
    finally:
        subprocess.run(["bash", script, "stop"], env=env, timeout=300)


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def run_job(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., None]:
    """Runs the job on a local MiniCluster until the bounded source ends."""
    return lambda *args: _run_job(servers, tmp_path_factory.mktemp("job").as_uri() + "/checkpoints", *args)


def _run_job(servers: Servers, checkpoint_dir: str, *args: str, timeout: int = 900) -> None:
    cmd = [
        sys.executable, "-m", "jobs.topk_job", "--bounded",
        "--bootstrap-servers", servers.bootstrap,
        "--redis-url", servers.redis_url,
        "--cassandra-port", str(servers.cassandra_port),
        "--cassandra-protocol-version", "1",
        "--checkpoint-dir", checkpoint_dir,
        "--checkpoint-interval-ms", "2000",
        *args,
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
