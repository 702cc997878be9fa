"""How to reach Cassandra: contact points, credentials, TLS, routing and consistency. No Flink
and no schema here (``topk.stores.cassandra_store`` holds what is stored).

User and password come from ``CASSANDRA_USERNAME`` / ``CASSANDRA_PASSWORD`` (``topk.stores.secrets``),
never from flags. Requests go token-aware over DC-aware round robin: to a replica of the partition
in the local data center first. Consistency is LOCAL_QUORUM when the keyspace is replicated more
than once, else LOCAL_ONE, unless set.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass

from cassandra import AuthenticationFailed, ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from topk.settings import setting
from topk.stores.secrets import secret
from topk.windows import split_csv

KEYSPACE_NAME = r"[A-Za-z][A-Za-z0-9_]{0,47}"  # Cassandra's rule for unquoted keyspace names (it goes into CQL text)


@dataclass(frozen=True)
class CassandraConnection:
    """Cassandra: how to reach the cluster, and the keyspace of the results."""

    FLAG_PREFIX = "cassandra-"
    hosts: tuple[str, ...] = setting(("127.0.0.1",), "contact points: host,host,...", parse=split_csv)
    port: int = setting(9042, "the native protocol port")
    protocol_version: int | None = setting(None, "default: negotiate", parse=int)
    local_dc: str = setting("", "the local data center (default: the first node's)")
    consistency: str = setting("", "e.g. LOCAL_QUORUM (default: LOCAL_QUORUM if replicated, else LOCAL_ONE)")
    tls_ca_file: str = setting("", "connect with TLS, trusting this CA (PEM)")
    replication: str = setting(
        "",
        "replication of the keyspace the job creates: dc=factor,... (NetworkTopologyStrategy); "
        "default: 1 in the local data center",
    )
    keyspace: str = setting("topk", "the keyspace of the results")

    def validate(self) -> CassandraConnection:
        if not re.fullmatch(KEYSPACE_NAME, self.keyspace):
            raise ValueError(f"bad Cassandra keyspace {self.keyspace!r}")
        if self.consistency and self.consistency.upper() not in ConsistencyLevel.name_to_value:
            raise ValueError(f"unknown Cassandra consistency {self.consistency!r}")
        if self.replication:
            replication_factors(self.replication)
        return self


def replication_factors(text: str) -> dict[str, int]:
    """``"dc1=3,dc2=3"`` as {dc: factor}; ``ValueError`` unless each factor is a positive integer."""
    factors = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        dc, _, factor = part.partition("=")
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", dc.strip()) or not factor.strip().isdigit() or int(factor) < 1:
            raise ValueError(f"bad Cassandra replication {part!r}: e.g. dc1=3,dc2=3")
        factors[dc.strip()] = int(factor)
    if not factors:
        raise ValueError("Cassandra replication: at least one dc=factor")
    return factors


def connect(conn: CassandraConnection) -> tuple[Cluster, Session]:
    """A session with the connection's policies; ``ValueError`` naming Cassandra when the credentials
    are refused (a wrong secret fails at once, it is not retried)."""
    username, password = secret("CASSANDRA_USERNAME"), secret("CASSANDRA_PASSWORD")
    kwargs: dict = {"protocol_version": conn.protocol_version} if conn.protocol_version else {}
    if username or password:
        kwargs["auth_provider"] = PlainTextAuthProvider(username or "", password or "")
    if conn.tls_ca_file:
        context = ssl.create_default_context(cafile=conn.tls_ca_file)
        kwargs["ssl_context"] = context
    routing = TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=conn.local_dc or None))
    profile = ExecutionProfile(load_balancing_policy=routing)
    no_delay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]  # else small requests wait ~40 ms (Nagle)
    cluster = Cluster(
        list(conn.hosts),
        port=conn.port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        sockopts=no_delay,
        **kwargs,
    )
    try:
        return cluster, cluster.connect()
    except NoHostAvailable as err:
        cluster.shutdown()
        if any(isinstance(e, AuthenticationFailed) for e in err.errors.values()):
            raise ValueError(
                f"Cassandra at {conn.hosts[0]}:{conn.port} refused the credentials "
                "(TOPK_CASSANDRA_USERNAME / TOPK_CASSANDRA_PASSWORD)"
            ) from None
        raise


def set_consistency(session: Session, conn: CassandraConnection, keyspace: str) -> None:
    """The consistency of every statement: as configured, else by the keyspace's replication."""
    level = conn.consistency.upper()
    if not level:
        meta = session.cluster.metadata.keyspaces.get(keyspace)
        options = meta.replication_strategy.export_for_schema() if meta else ""
        replicated = any(int(n) > 1 for n in re.findall(r"'(\d+)'", options))
        level = "LOCAL_QUORUM" if replicated else "LOCAL_ONE"
    session.cluster.profile_manager.default.consistency_level = ConsistencyLevel.name_to_value[level]


def local_dc(session: Session, conn: CassandraConnection) -> str:
    """The configured local data center, else that of the first node up (set it on a multi-DC cluster)."""
    return conn.local_dc or next(h.datacenter for h in session.cluster.metadata.all_hosts() if h.is_up)
