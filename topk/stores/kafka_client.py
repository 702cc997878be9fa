"""How every Kafka client of the project connects: the job's source and dead-letter sink (Java), the
API's producer and the generator (librdkafka), topic admin and test consumers (kafka-python).

One Java-style properties file (``--kafka-properties``) holds the client settings of a secured
cluster; a secret in it is a reference the client resolves when it starts, never the secret::

    security.protocol=SASL_SSL
    sasl.mechanism=SCRAM-SHA-512
    sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\
        username="topk" password="${env:TOPK_KAFKA_PASSWORD}";
    ssl.truststore.type=PEM
    ssl.truststore.location=/etc/topk/kafka-ca.pem

References: ``${env:NAME}`` (an environment variable) and ``${file:/path/secrets.properties:key}``
(a key of another properties file), Kafka's own config providers: the Java clients resolve them on
the TaskManagers (the job graph and the Flink UI hold only the reference), the Python clients here.
The Python clients understand the security settings above (PLAIN or SCRAM over SASL_PLAINTEXT /
SASL_SSL / SSL with a PEM trust store); other settings apply to the Java clients only.

The job's source also gets bounded fetches (``FETCH_LIMITS``, overridable): a consumer reads a
backlog in pieces of at most 8 MB, so the TaskManager's direct memory (which the JVM uses for every
socket read) never has to hold one huge fetch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from kafka.admin import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

from topk.settings import setting

# A dead letter's envelope holds its record's first bytes in base64 (4/3 of them) and fits Kafka's default
# max.request.size (1 MB) with room to spare.
MAX_DEAD_LETTER_BYTES = 512 * 1024
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")  # Kafka's rule; "." and ".." are refused as well
FETCH_LIMITS = {"fetch.max.bytes": str(8 << 20), "max.partition.fetch.bytes": str(1 << 20)}
PROVIDERS = {
    "env": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
    "file": "org.apache.kafka.common.config.provider.FileConfigProvider",
}
REFERENCE = re.compile(r"\$\{(\w+):(?:([^}]*):)?([^}:]*)\}")  # Kafka's ${provider:[path:]key}
JAAS_FIELD = re.compile(r'(username|password)\s*=\s*"((?:[^"\\]|\\.)*)"')
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaClient:
    """A cluster and the client properties to reach it (secrets as references)."""

    bootstrap_servers: str
    properties: Mapping[str, str] = field(default_factory=dict)

    def java(self) -> dict[str, str]:
        """Properties for the Java clients (without ``bootstrap.servers``): fetch limits, the file's
        settings, and the config providers its references need."""
        props = {**FETCH_LIMITS, **self.properties}
        used = {m.group(1) for v in self.properties.values() for m in REFERENCE.finditer(v)}
        if used and "config.providers" not in props:
            unknown = used - PROVIDERS.keys()
            if unknown:
                raise ValueError(f"Kafka properties: unknown config provider(s) {', '.join(sorted(unknown))}")
            props["config.providers"] = ",".join(sorted(used))
            props |= {f"config.providers.{p}.class": PROVIDERS[p] for p in sorted(used)}
        return props

    def resolved(self) -> dict[str, str]:
        """The properties with their references replaced by the secrets (for the Python clients)."""
        return {k: REFERENCE.sub(_lookup, v) for k, v in self.properties.items()}

    def librdkafka(self) -> dict[str, str]:
        """Settings for a ``confluent_kafka`` client (librdkafka names)."""
        sec = self._security()
        conf = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": sec["protocol"]}
        if "mechanism" in sec:
            conf |= {"sasl.mechanism": sec["mechanism"], "sasl.username": sec["username"]}
            conf["sasl.password"] = sec["password"]
        if "cafile" in sec:
            conf["ssl.ca.location"] = sec["cafile"]
        if not sec["check_hostname"]:
            conf["ssl.endpoint.identification.algorithm"] = "none"
        return conf

    def kafka_python(self) -> dict[str, object]:
        """Keyword arguments for a ``kafka-python`` client."""
        sec = self._security()
        kwargs: dict[str, object] = {"bootstrap_servers": self.bootstrap_servers, "security_protocol": sec["protocol"]}
        if "mechanism" in sec:
            kwargs |= {"sasl_mechanism": sec["mechanism"], "sasl_plain_username": sec["username"]}
            kwargs["sasl_plain_password"] = sec["password"]
        if "cafile" in sec:
            kwargs["ssl_cafile"] = sec["cafile"]
        kwargs["ssl_check_hostname"] = sec["check_hostname"]
        return kwargs

    def _security(self) -> dict:
        p = self.resolved()
        protocol = p.get("security.protocol", "PLAINTEXT").upper()
        if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise ValueError(f"Kafka properties: unknown security.protocol {protocol!r}")
        sec: dict = {"protocol": protocol, "check_hostname": p.get("ssl.endpoint.identification.algorithm") != ""}
        if protocol.startswith("SASL"):
            mechanism = p.get("sasl.mechanism", "GSSAPI").upper()
            if mechanism not in SASL_MECHANISMS:
                raise ValueError(f"Kafka properties: sasl.mechanism {mechanism} is not supported by the Python clients")
            fields = dict(JAAS_FIELD.findall(p.get("sasl.jaas.config", "")))
            if not {"username", "password"} <= fields.keys():
                raise ValueError('Kafka properties: sasl.jaas.config needs username="..." password="..."')
            sec |= {"mechanism": mechanism, "username": fields["username"], "password": fields["password"]}
        if protocol.endswith("SSL") and "ssl.truststore.location" in p:
            if p.get("ssl.truststore.type", "JKS").upper() != "PEM":
                raise ValueError("Kafka properties: the Python clients need ssl.truststore.type=PEM")
            sec["cafile"] = p["ssl.truststore.location"]
        return sec


def load_properties(path: str | Path) -> dict[str, str]:
    """A Java-style properties file: ``key=value`` (or ``key: value``) lines, ``#``/``!`` comments,
    a trailing backslash continues a line. ``ValueError`` on a line without a key."""
    props, pending = {}, ""
    for raw in Path(path).read_text().splitlines():
        line = pending + raw.strip()
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#!":
            continue
        match = re.fullmatch(r"([^=:\s]+)\s*[=:]\s*(.*)", line)
        if not match:
            raise ValueError(f"{path}: not a key=value line: {raw.strip()[:60]!r}")
        props[match.group(1)] = match.group(2)
    return props


def kafka_client(bootstrap_servers: str, properties_file: str = "") -> KafkaClient:
    """The client for ``--bootstrap-servers`` and ``--kafka-properties`` (empty: plaintext)."""
    try:
        props = load_properties(properties_file) if properties_file else {}
    except OSError as err:
        raise ValueError(f"--kafka-properties: cannot read {properties_file}: {err.strerror}") from None
    return KafkaClient(bootstrap_servers, props)


@dataclass(frozen=True)
class KafkaSettings:
    """Kafka: the cluster, how to reach it, and the topics."""

    bootstrap_servers: str = setting("127.0.0.1:9092", "host:port,... of the Kafka brokers")
    kafka_properties: str = setting(
        "",
        "Kafka client properties file (SASL/TLS, fetch sizes) for every Kafka client; secrets "
        "as ${env:NAME} or ${file:path:key} references, never in the file's values or on the command line",
    )
    topic: str = setting("events", "the events topic")
    dead_letter_topic: str = setting("events-dlq", "where the job sends rejected records, with the reason")
    dead_letter_max_bytes: int = setting(
        65_536, "bytes of a rejected record its dead letter keeps (with the record's length and SHA-256)"
    )
    config_topic: str = setting(
        "topk-config",
        "compacted topic of per-tenant parameters (python -m topk.query.tenants); empty: none, every tenant "
        "has the job's",
    )
    alerts_topic: str = setting(
        "",
        "compacted topic (e.g. topk-alerts) the job writes data alerts to, exactly once, in Kafka transactions "
        "(topk.alerts; --alert-phi, tenants' alertPhi); empty: no alerts",
    )

    @cached_property
    def client(self) -> KafkaClient:
        """The clients' settings (the properties file read once)."""
        return kafka_client(self.bootstrap_servers, self.kafka_properties)

    def validate(self) -> KafkaSettings:
        if not 1 <= self.dead_letter_max_bytes <= MAX_DEAD_LETTER_BYTES:
            raise ValueError(f"--dead-letter-max-bytes must be in 1..{MAX_DEAD_LETTER_BYTES}")
        topics = {"topic": self.topic, "dead-letter-topic": self.dead_letter_topic}
        optional = [("config-topic", self.config_topic), ("alerts-topic", self.alerts_topic)]
        topics |= {name: topic for name, topic in optional if topic}  # empty: none
        for name, topic in topics.items():
            if not TOPIC_NAME.fullmatch(topic) or topic in (".", ".."):
                raise ValueError(f"--{name} {topic!r} is not a Kafka topic name: 1 to 249 of A-Z a-z 0-9 . _ -")
        named = {}
        for name, topic in topics.items():  # one topic for two uses: dead letters of dead letters, and so on
            if topic in named:
                raise ValueError(f"--{name} and --{named[topic]} are the same topic, {topic!r}")
            named[topic] = name
        self.client.java()  # the properties file reads and its references name known providers
        return self


def ensure_topic(client: KafkaClient, topic: str, partitions: int = -1, configs: dict[str, str] | None = None) -> None:
    """Creates ``topic`` (``partitions`` -1: the broker's default; the broker's default replication; with these
    topic ``configs``) unless it exists; one that does is left as it is."""
    admin = KafkaAdminClient(**client.kafka_python())
    try:  # asked first: creating takes the CREATE permission, a topic made by the operators only DESCRIBE
        if topic not in admin.list_topics():
            admin.create_topics({topic: {"num_partitions": partitions, "configs": configs or {}}})
    except TopicAlreadyExistsError:  # made meanwhile
        pass
    finally:
        admin.close()


def _lookup(ref: re.Match) -> str:
    provider, path, key = ref.groups()
    if provider == "env" and key in os.environ:
        return os.environ[key]
    if provider == "file" and path:
        try:
            found = load_properties(path).get(key)
        except OSError:
            found = None
        if found is not None:
            return found
    raise ValueError(f"Kafka properties: {ref.group(0)} is not set")
