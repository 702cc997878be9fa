"""Check job flags before submitting, so a mistake fails at once with a clear message, not as a
restarting job: bad values (``--windows 1m,7m``, ``--k`` above ``--capacity``), a Kafka bootstrap
list with no reachable broker, and credentials a store refuses (Kafka, Redis, Cassandra: the
message names the store). A store that is only unreachable is reported, not fatal: the job waits
for it.

python -m jobs.settings_check [job flags]   ->  exit 2 with the reason, or 0
"""

from __future__ import annotations

import socket
import sys

import redis
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from jobs.settings import JobSettings, parse_args
from topk.stores.cassandra_store import UNREACHABLE, CassandraStore
from topk.stores.redis_store import connect

TIMEOUT_S = 10


def reachable_brokers(bootstrap_servers: str, timeout_s: float = 5.0) -> list[str]:
    """The ``host:port`` entries that accept a TCP connection."""
    up = []
    for entry in bootstrap_servers.split(","):
        host, _, port = entry.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
            up.append(entry.strip())
        except (OSError, ValueError):
            continue
    return up


def check_kafka(settings: JobSettings) -> None:
    try:
        KafkaAdminClient(**settings.kafka.client.kafka_python(), request_timeout_ms=TIMEOUT_S * 1000).close()
    except KafkaError as err:
        raise ValueError(
            f"Kafka at {settings.kafka.bootstrap_servers} refused the client ({err}); "
            "check --kafka-properties and its secrets"
        ) from None


def check_redis(settings: JobSettings) -> None:
    try:
        connect(settings.redis.url, retries=0).ping()
    except redis.AuthenticationError as err:
        raise ValueError(
            f"Redis at {settings.redis.url} refused the credentials ({err}); "
            "check TOPK_REDIS_USERNAME / TOPK_REDIS_PASSWORD"
        ) from None
    except redis.RedisError as err:
        print(f"warning: Redis at {settings.redis.url} not reachable now ({err}); the job will wait", file=sys.stderr)


def check_cassandra(settings: JobSettings) -> None:
    store = CassandraStore(settings.cassandra, settings.cassandra.keyspace, settings.windows.specs)
    try:
        store.session  # noqa: B018 (connects; ValueError when the credentials are refused)
    except UNREACHABLE as err:
        print(f"warning: Cassandra not reachable now ({err}); the job will wait", file=sys.stderr)
    finally:
        store.close()


def check(argv: list[str]) -> JobSettings:
    """The settings, or ``ValueError`` saying what is wrong."""
    settings = parse_args(argv)
    if not reachable_brokers(settings.kafka.bootstrap_servers):
        raise ValueError(f"no Kafka broker reachable at {settings.kafka.bootstrap_servers}")
    check_kafka(settings)
    check_redis(settings)
    check_cassandra(settings)
    return settings


if __name__ == "__main__":
    try:
        check(sys.argv[1:])
    except ValueError as err:
        print(f"invalid job settings: {err}", file=sys.stderr)
        sys.exit(2)
