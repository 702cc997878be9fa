"""docker/ cannot run here (no Docker engine), so check that it agrees with the rest of the project:
versions, job flags, ports, Prometheus targets, S3 settings and volumes."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from jobs.flink_conf import load
from jobs.settings import parse_args

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
POM = {"m": "http://maven.apache.org/POM/4.0.0"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def conf() -> dict:
    return load((ROOT / "conf/flink-conf.yaml").read_text())


def flink_version() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d.split("==")[1] for d in deps if d.startswith("apache-flink=="))


def flags(command: list[str]) -> dict[str, str]:
    return dict(arg[2:].split("=", 1) for arg in command if arg.startswith("--") and "=" in arg)


def published(service: dict) -> dict[str, str]:
    """Container port -> the host address it is published on."""
    return {p.rsplit(":", 2)[2]: p.rsplit(":", 2)[0] for p in service.get("ports", [])}


def flink_properties(service: dict) -> dict:
    return yaml.safe_load(service["environment"]["FLINK_PROPERTIES"])


def pom_versions() -> dict[str, str]:
    """The pinned versions of jvm/pom.xml (what scripts/setup.sh fetches)."""
    properties = ElementTree.parse(ROOT / "jvm/pom.xml").getroot().find("m:properties", POM)
    return {p.tag.split("}")[1]: p.text for p in properties}


def dockerfile_text() -> str:
    return (DOCKER / "Dockerfile").read_text()


def test_images_are_pinned_and_flink_matches_pyflink(compose):
    version = flink_version()
    dockerfile = dockerfile_text()
    assert f"ARG FLINK_VERSION={version}" in dockerfile
    for name, service in compose["services"].items():
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", service["image"]), name
        assert not service["image"].endswith(":latest"), name
        if "build" in service:
            assert service["build"]["args"]["FLINK_VERSION"] == version
            assert service["image"].endswith(f":{version}")
            assert service["environment"]["ENABLE_BUILT_IN_PLUGINS"] == f"flink-s3-fs-presto-{version}.jar"
    pinned = pom_versions()
    assert pinned["flink.version"] == version
    images = {
        service["image"].split(":")[0]: service["image"].split(":")[1] for service in compose["services"].values()
    }
    assert images["apache/kafka"] == pinned["kafka.version"]  # the same servers as the local ones
    assert images["cassandra"] == pinned["cassandra.version"]
    assert "COPY jvm/pom.xml" in dockerfile and "-P job dependency:copy-dependencies" in dockerfile
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    python = re.search(r"uv venv --python (3\.\d+)", dockerfile).group(1)
    assert python in requires or requires == f">={python}"


def test_job_and_api_flags_are_valid_and_agree(compose):
    services = compose["services"]
    job_cmd = services["job"]["command"]
    assert job_cmd[:4] == ["flink", "run", "-py", "/opt/topk/jobs/topk_job.py"]
    job = flags(job_cmd)
    settings = parse_args(job_cmd[4:])  # raises on anything the job would reject
    api = flags(services["query-api"]["command"])
    for name in ("topic", "windows", "capacity", "redis-url", "cassandra-hosts", "cassandra-port", "bootstrap-servers"):
        assert api[name] == job[name], name
    archive_cmd = services["archive-job"]["command"]
    assert archive_cmd[:4] == ["flink", "run", "-py", "/opt/topk/jobs/archive_job.py"]
    archive = flags(archive_cmd)
    parse_args(archive_cmd[4:])
    for name in ("topic", "bootstrap-servers", "dimensions"):
        assert archive[name] == job[name], name
    for name in ("archive-url", "s3-endpoint-url"):
        assert api[name] == archive[name], name
    host, port = settings.kafka.bootstrap_servers.split(":")
    assert f"PLAINTEXT://{host}:{port}" in services[host]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    redis_host, redis_port = re.match(r"redis://([\w-]+):(\d+)/", job["redis-url"]).groups()
    assert redis_host in services and redis_port in published(services[redis_host])
    assert job["cassandra-hosts"] in services and services[job["cassandra-hosts"]]["image"].startswith("cassandra:5")
    assert job["cassandra-port"] in published(services["cassandra"])


def test_flink_properties_point_conf_at_the_services(compose, conf):
    services = compose["services"]
    props = flink_properties(services["jobmanager"])
    for key in props:
        assert key in conf, f"{key} is not in conf/flink-conf.yaml"
    assert props["jobmanager.rpc.address"] in services and props["rest.address"] in services
    assert published(services["jobmanager"]) == {str(conf["rest.port"]): "127.0.0.1"}  # it runs jobs: loopback
    bucket = re.match(r"s3://([\w-]+)/", conf["execution.checkpointing.dir"]).group(1)
    assert conf["execution.checkpointing.savepoint-dir"].startswith(f"s3://{bucket}/")
    assert bucket in services["s3-init"]["entrypoint"][-1]
    s3_host, s3_port = re.search(r"TOPK_S3_ENDPOINT=http://([\w-]+):(\d+)", dockerfile_text()).groups()
    assert s3_host in services and f"-s3.port={s3_port}" in services[s3_host]["command"]
    assert conf["s3.endpoint"] == "${TOPK_S3_ENDPOINT}" and not any("secret" in key for key in conf)
    assert services["jobmanager"]["depends_on"]["s3-init"]["condition"] == "service_completed_successfully"


def test_the_deployment_starts_secured(compose, tmp_path):
    """Secrets made on the first start and read from files; logins on the stores and a token on the API
    (and its /metrics); nothing published beyond the host's loopback unless asked."""
    assert not (DOCKER / ".env").exists()
    services, secrets = compose["services"], "/run/topk-secrets/"
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            assert not re.search(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY", key) or key.endswith("_FILE"), (name, key)
            assert not key.endswith("_FILE") or value.startswith(secrets), (name, key)
        for port, host in published(service).items():
            assert host in ("127.0.0.1", "${TOPK_PUBLISH_HOST:-127.0.0.1}"), (name, port)
    assert not published(services["kafka"]) and not published(services["s3"])
    api = services["query-api"]["command"]
    assert flags(api)["api-token-file"] == secrets + "api_token" and not any("insecure" in a for a in api)
    scrape = yaml.safe_load((DOCKER / "prometheus.yml").read_text())["scrape_configs"]
    (api_job,) = [job for job in scrape if "query-api:8080" in job["static_configs"][0]["targets"]]
    assert api_job["authorization"]["credentials_file"] == secrets + "api_token"
    assert services["redis"]["command"] == ["redis-server", secrets + "redis.conf"]
    assert "PasswordAuthenticator" in services["cassandra"]["entrypoint"][-1]
    env = services["job"]["environment"]
    assert env["TOPK_CASSANDRA_USERNAME"] == "topk" and env["TOPK_REDIS_PASSWORD_FILE"].startswith(secrets)

    def make(directory) -> dict[str, str]:
        subprocess.run(
            [sys.executable, str(DOCKER / "init_secrets.py"), str(directory)], check=True, capture_output=True
        )
        return {p.name: p.read_text() for p in directory.iterdir()}

    first = make(tmp_path / "a")
    referenced = set(re.findall(r"/run/topk-secrets/([\w.]+)", (DOCKER / "compose.yaml").read_text()))
    referenced |= set(re.findall(r"\$secrets/([\w.]+)", (DOCKER / "cassandra-init.sh").read_text()))
    referenced |= set(re.findall(r"/run/topk-secrets/([\w.]+)", (DOCKER / "with-secrets.sh").read_text()))
    assert referenced <= set(first), referenced - set(first)
    assert make(tmp_path / "a") == first  # kept on every later start
    again = make(tmp_path / "b")
    assert all(again[name] != text for name, text in first.items() if name != "ready")  # random each deployment
    assert first["redis.conf"].startswith(f"requirepass {first['redis_password']}\n")
    assert len(first["api_token"]) >= 32 and "AWS_SECRET_ACCESS_KEY=" in first["s3.env"]


def test_prometheus_scrapes_flink_and_the_api(compose, conf):
    scrape = yaml.safe_load((DOCKER / "prometheus.yml").read_text())["scrape_configs"]
    targets = {t for job in scrape for group in job["static_configs"] for t in group["targets"]}
    low, high = map(int, str(conf["metrics.reporter.prom.port"]).split("-"))
    assert conf["metrics.reporter.prom.factory.class"].endswith("PrometheusReporterFactory")
    for service in ("jobmanager", "taskmanager"):
        port = next(int(t.split(":")[1]) for t in targets if t.startswith(f"{service}:"))
        assert low <= port <= high
    api_port = flags(compose["services"]["query-api"]["command"])["port"]
    assert f"query-api:{api_port}" in targets
    prometheus = compose["services"]["prometheus"]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]


def test_named_volumes_are_declared(compose):
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in declared, (name, source)
    for line in re.findall(r"^COPY (?!--)(.+)$", dockerfile_text(), re.M):
        for path in line.split()[:-1]:
            assert (ROOT / path).exists(), path


def test_bad_cluster_conf_is_refused():
    with pytest.raises(ValueError, match="not valid YAML"):
        load("state.backend.type: rocksdb\n  bad: [indent")
    with pytest.raises(ValueError, match="mapping"):
        load("- just\n- a list\n")
