"""How the clients are configured (pure logic; the secured servers are exercised in
tests/integration/test_secured.py)."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from jobs.settings import parse_args
from topk.stores.cassandra_connection import CassandraConnection, replication_factors
from topk.stores.kafka_client import FETCH_LIMITS, kafka_client, load_properties
from topk.stores.redis_store import check_url, index_key, window_key
from topk.stores.secrets import secret

SCRAM = """# a secured cluster
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\
    username="topk" password="${env:TEST_KAFKA_SECRET}";
ssl.truststore.type=PEM
ssl.truststore.location=/etc/ca.pem
ssl.endpoint.identification.algorithm=
"""


@pytest.fixture
def scram_file(tmp_path):
    path = tmp_path / "client.properties"
    path.write_text(SCRAM)
    return str(path)


def test_java_clients_get_references_and_the_providers_that_resolve_them(scram_file):
    java = kafka_client("b:9093", scram_file).java()
    assert 'password="${env:TEST_KAFKA_SECRET}"' in java["sasl.jaas.config"]  # never the secret itself
    assert java["config.providers"] == "env"
    assert java["config.providers.env.class"].endswith("EnvVarConfigProvider")
    assert java["fetch.max.bytes"] == FETCH_LIMITS["fetch.max.bytes"]


def test_python_clients_get_the_secret_resolved(scram_file, monkeypatch):
    monkeypatch.setenv("TEST_KAFKA_SECRET", "s3cret")
    kafka = kafka_client("b:9093", scram_file)
    assert kafka.librdkafka() == {
        "bootstrap.servers": "b:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "topk",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/ca.pem",
        "ssl.endpoint.identification.algorithm": "none",
    }
    assert kafka.kafka_python()["sasl_plain_password"] == "s3cret"
    assert kafka.kafka_python()["ssl_check_hostname"] is False


def test_file_references_and_missing_secrets(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.properties"
    secrets.write_text("kafka.password = from-a-file\n")
    props = tmp_path / "client.properties"
    props.write_text(SCRAM.replace("${env:TEST_KAFKA_SECRET}", f"${{file:{secrets}:kafka.password}}"))
    kafka = kafka_client("b:9093", str(props))
    assert kafka.librdkafka()["sasl.password"] == "from-a-file"
    assert kafka.java()["config.providers"] == "file"
    monkeypatch.delenv("TEST_KAFKA_SECRET", raising=False)
    props.write_text(SCRAM)
    with pytest.raises(ValueError, match="TEST_KAFKA_SECRET"):
        kafka_client("b:9093", str(props)).librdkafka()


def test_unsupported_settings_for_the_python_clients_are_named(tmp_path):
    path = tmp_path / "p.properties"
    path.write_text("security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\n")
    with pytest.raises(ValueError, match="GSSAPI"):
        kafka_client("b:1", str(path)).kafka_python()
    path.write_text("security.protocol=SSL\nssl.truststore.location=/x.jks\n")
    with pytest.raises(ValueError, match="PEM"):
        kafka_client("b:1", str(path)).librdkafka()
    path.write_text("not a property line\n")
    with pytest.raises(ValueError, match="key=value"):
        load_properties(path)


def test_plaintext_by_default():
    kafka = kafka_client("b:9092")
    assert kafka.librdkafka() == {"bootstrap.servers": "b:9092", "security.protocol": "PLAINTEXT"}
    assert kafka.java() == FETCH_LIMITS


def test_job_flags_take_a_properties_file_and_check_it(scram_file):
    assert parse_args(["--kafka-properties", scram_file]).kafka.client.properties["sasl.mechanism"] == "SCRAM-SHA-512"
    with pytest.raises(ValueError, match="cannot read"):
        parse_args(["--kafka-properties", "/no/such/file"])


def test_secrets_from_the_environment_or_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TOPK_X_PASSWORD", raising=False)
    assert secret("X_PASSWORD") is None
    (tmp_path / "pw").write_text("from-file\n")
    monkeypatch.setenv("TOPK_X_PASSWORD_FILE", str(tmp_path / "pw"))
    assert secret("X_PASSWORD") == "from-file"
    monkeypatch.setenv("TOPK_X_PASSWORD", "from-env")
    assert secret("X_PASSWORD") == "from-env"


@pytest.mark.parametrize("value", ["eu", "a}b", "{x}", "ünï:cödé"])
def test_every_key_of_a_view_shares_one_cluster_slot(value):
    keys = [window_key(w, "region", value, s) for w in ["1m"] for s in (0, 60_000, 86_400_000)]
    keys += [f"{keys[0]}:meta", f"{keys[0]}:bounds", f"{keys[0]}:summary", index_key("1m", "region", value)]
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_redis_urls_carry_no_credentials():
    assert check_url("rediss+cluster://h:7000") == ("rediss+cluster", "h:7000")
    with pytest.raises(ValueError, match="TOPK_REDIS_PASSWORD"):
        check_url("redis://:pw@h:6379/0")
    with pytest.raises(ValueError, match="bad Redis URL"):
        check_url("http://h")


def test_cassandra_replication_and_consistency_flags():
    assert replication_factors("dc1=3, dc2=2") == {"dc1": 3, "dc2": 2}
    for bad in ("dc1", "dc1=0", "dc 1=3", ""):
        with pytest.raises(ValueError):
            replication_factors(bad)
    with pytest.raises(ValueError, match="consistency"):
        CassandraConnection(consistency="MOSTLY").validate()
    conn = parse_args(["--cassandra-consistency", "quorum", "--cassandra-replication", "dc1=3"]).cassandra
    assert (conn.consistency, conn.replication) == ("quorum", "dc1=3")
