"""Job parameters: parsed from the command line, validated before anything starts."""

from __future__ import annotations

import argparse
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from connectors.cassandra_connection import KEYSPACE_NAME, CassandraConnection, add_cassandra_arguments, connection_of
from connectors.kafka_client import KafkaClient, kafka_client
from topk.times import parse_time_ms
from topk.windows import WindowSpec, by_size, parse_windows, split_csv


@dataclass(frozen=True)
class JobSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    kafka_properties: str = ""  # a Java properties file for secured clusters (connectors.kafka_client)
    topic: str = "events"
    dead_letter_topic: str = "events-dlq"
    group_id: str = "topk-job"
    windows: tuple[WindowSpec, ...] = field(default_factory=lambda: parse_windows("1m,1h,1d,all"))
    dimensions: tuple[str, ...] = ("region", "category")
    k: int = 100
    capacity: int = 1024
    cms_width: int = 2048
    cms_depth: int = 5
    out_of_orderness_ms: int = 5_000
    idle_timeout_ms: int = 0  # off: a partition that is only slow must not be declared idle
    max_future_ms: int = 3_600_000
    max_past_ms: int = 7 * 86_400_000
    max_item_length: int = 1024
    max_weight: int = 1_000_000
    redis_url: str = "redis://127.0.0.1:6379/0"
    cassandra: CassandraConnection = field(default_factory=CassandraConnection)
    cassandra_keyspace: str = "topk"
    checkpoint_dir: str = ""
    checkpoint_interval_ms: int = 10_000
    parallelism: int = 1
    bounded: bool = False
    start_from: str = "group"  # group | earliest | latest | timestamp:<epoch ms or ISO-8601> | offsets:P=O,...
    redis_prefix: str = "topk"
    retention: str = ""  # per window size, e.g. "1m=2d,1h=90d,1d=forever"; unnamed sizes: default_retention_ms
    allowed_lateness_ms: int = 0
    archive_url: str = "s3://topk-archive"  # the archive job's Parquet datasets: <url>/events, <url>/dead_letters
    s3_endpoint_url: str = ""  # e.g. http://127.0.0.1:8333; empty: AWS
    archive_block_offsets: int = 100_000  # Kafka offsets per archive file (per partition and hour)
    archive_flush_ms: int = 60_000  # rewrite the open block's files this often

    @cached_property
    def kafka(self) -> KafkaClient:
        """The Kafka clients' settings (``--kafka-properties`` read once)."""
        return kafka_client(self.bootstrap_servers, self.kafka_properties)

    @property
    def base_window(self) -> WindowSpec:
        """The finest window: events are pre-aggregated at this size in the JVM."""
        return by_size(self.windows)[0]

    def validate(self) -> JobSettings:
        sized = by_size(self.windows)
        if not sized:
            raise ValueError("at least one sized window (e.g. 1m) is required")
        if len({w.label for w in self.windows}) != len(self.windows):
            raise ValueError("window sizes must be distinct")
        for finer, w in itertools.pairwise(sized):  # each window is folded from the next finer one
            if w.size_ms % finer.size_ms:
                raise ValueError(f"window {w.label} is not a multiple of the next finer window {finer.label}")
        if not 1 <= self.k <= self.capacity:
            raise ValueError(f"need 1 <= k <= capacity, got k={self.k}, capacity={self.capacity}")
        for name in self.dimensions:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name == "all":
                raise ValueError(f"bad dimension name {name!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)*", self.redis_prefix):
            raise ValueError(f"bad Redis prefix {self.redis_prefix!r}: letters, digits, _ . - separated by ':'")
        if not re.fullmatch(KEYSPACE_NAME, self.cassandra_keyspace):
            raise ValueError(f"bad Cassandra keyspace {self.cassandra_keyspace!r}")
        if self.allowed_lateness_ms < 0:
            raise ValueError("allowed lateness must be >= 0")
        if self.archive_block_offsets < 1 or self.archive_flush_ms < 1:
            raise ValueError("archive block offsets and flush interval must be >= 1")
        kafka_startup(self.start_from)
        self.kafka.java()  # the properties file reads and its references name known providers
        self.cassandra.check()
        return self


def kafka_startup(start_from: str) -> dict[str, str]:
    """The Kafka SQL connector's startup options for ``--start-from``."""
    kind, _, arg = start_from.partition(":")
    if kind in ("group", "earliest", "latest") and not arg:
        return {"scan.startup.mode": {"group": "group-offsets"}.get(kind, f"{kind}-offset")}
    if kind == "timestamp" and arg:
        return {"scan.startup.mode": "timestamp", "scan.startup.timestamp-millis": str(parse_time_ms(arg))}
    if kind == "offsets" and re.fullmatch(r"\d+=\d+(,\d+=\d+)*", arg):
        parts = (p.split("=") for p in arg.split(","))
        offsets = ";".join(f"partition:{partition},offset:{offset}" for partition, offset in parts)
        return {"scan.startup.mode": "specific-offsets", "scan.startup.specific-offsets": offsets}
    raise ValueError(
        f"bad --start-from {start_from!r}: group, earliest, latest, timestamp:<epoch ms|ISO-8601> "
        "or offsets:<partition>=<offset>,..."
    )


def parse_args(argv: Sequence[str] | None = None) -> JobSettings:
    d = JobSettings()
    p = argparse.ArgumentParser(description="Streaming top-K heavy hitters: Kafka -> Flink -> Redis + Cassandra")
    p.add_argument("--bootstrap-servers", default=d.bootstrap_servers)
    p.add_argument(
        "--kafka-properties",
        default=d.kafka_properties,
        help="Kafka client properties file (SASL/TLS, fetch sizes) for every Kafka client of the job; secrets "
        "as ${env:NAME} or ${file:path:key} references, never in the file's values or on the command line",
    )
    p.add_argument("--topic", default=d.topic)
    p.add_argument("--dead-letter-topic", default=d.dead_letter_topic)
    p.add_argument("--group-id", default=d.group_id)
    p.add_argument("--windows", default="1m,1h,1d,all", help="comma-separated tumbling window sizes and/or all")
    p.add_argument(
        "--retention",
        default=d.retention,
        help="how long stored windows are kept after they end, per size: e.g. 1m=2d,1h=90d,1d=forever "
        "(default: under an hour 2d, under a day 90d, else forever); the query side takes the same flag",
    )
    p.add_argument("--dimensions", default=",".join(d.dimensions), help="payload fields to group by, besides 'all'")
    p.add_argument("--k", type=int, default=d.k)
    p.add_argument("--capacity", type=int, default=d.capacity, help="Space-Saving counters per window (>= k)")
    p.add_argument("--cms-width", type=int, default=d.cms_width)
    p.add_argument("--cms-depth", type=int, default=d.cms_depth)
    p.add_argument("--out-of-orderness-ms", type=int, default=d.out_of_orderness_ms)
    p.add_argument(
        "--idle-timeout-ms",
        type=int,
        default=d.idle_timeout_ms,
        help="mark a Kafka partition idle after this long without records, so the watermark moves on "
        "without it (0: never). Events of a partition declared idle while it still has data arrive late.",
    )
    p.add_argument("--max-future-ms", type=int, default=d.max_future_ms, help="event time ahead of the Kafka timestamp")
    p.add_argument("--max-past-ms", type=int, default=d.max_past_ms, help="event time behind the Kafka timestamp")
    p.add_argument("--max-item-length", type=int, default=d.max_item_length)
    p.add_argument("--max-weight", type=int, default=d.max_weight)
    p.add_argument(
        "--redis-url",
        default=d.redis_url,
        help="redis://, rediss:// (TLS; ?ssl_ca_certs=PATH), redis+cluster:// or rediss+cluster://; "
        "user and password from TOPK_REDIS_USERNAME / TOPK_REDIS_PASSWORD (or *_FILE)",
    )
    add_cassandra_arguments(p, creates_keyspace=True)
    p.add_argument("--cassandra-keyspace", default=d.cassandra_keyspace)
    p.add_argument("--checkpoint-dir", default=d.checkpoint_dir, help="file:// or s3:// URI; default: cluster config")
    p.add_argument("--checkpoint-interval-ms", type=int, default=d.checkpoint_interval_ms)
    p.add_argument("--parallelism", type=int, default=d.parallelism)
    p.add_argument("--bounded", action="store_true", help="stop at the topic's end offsets at start-up")
    p.add_argument(
        "--start-from",
        default=d.start_from,
        help="where to read the topic from: group (committed offsets, else earliest), earliest, latest, "
        "timestamp:<epoch ms|ISO-8601>, offsets:<partition>=<offset>,... (replays)",
    )
    p.add_argument("--redis-prefix", default=d.redis_prefix, help="Redis key namespace (replays into a fresh one)")
    p.add_argument(
        "--allowed-lateness-ms",
        type=int,
        default=d.allowed_lateness_ms,
        help="events behind the watermark by up to this much update their (re-emitted) windows; later: dead letter",
    )
    p.add_argument("--archive-url", default=d.archive_url, help="archive job: s3://bucket/prefix or file:///dir")
    p.add_argument("--s3-endpoint-url", default=d.s3_endpoint_url, help="S3-compatible server; empty: AWS")
    p.add_argument("--archive-block-offsets", type=int, default=d.archive_block_offsets)
    p.add_argument("--archive-flush-ms", type=int, default=d.archive_flush_ms)
    a = p.parse_args(argv)
    return JobSettings(
        bootstrap_servers=a.bootstrap_servers,
        kafka_properties=a.kafka_properties,
        topic=a.topic,
        dead_letter_topic=a.dead_letter_topic,
        group_id=a.group_id,
        windows=parse_windows(a.windows, a.retention),
        retention=a.retention,
        dimensions=split_csv(a.dimensions),
        k=a.k,
        capacity=a.capacity,
        cms_width=a.cms_width,
        cms_depth=a.cms_depth,
        out_of_orderness_ms=a.out_of_orderness_ms,
        idle_timeout_ms=a.idle_timeout_ms,
        max_future_ms=a.max_future_ms,
        max_past_ms=a.max_past_ms,
        max_item_length=a.max_item_length,
        max_weight=a.max_weight,
        redis_url=a.redis_url,
        cassandra=connection_of(a),
        cassandra_keyspace=a.cassandra_keyspace,
        checkpoint_dir=a.checkpoint_dir,
        checkpoint_interval_ms=a.checkpoint_interval_ms,
        parallelism=a.parallelism,
        bounded=a.bounded,
        start_from=a.start_from,
        redis_prefix=a.redis_prefix,
        allowed_lateness_ms=a.allowed_lateness_ms,
        archive_url=a.archive_url,
        s3_endpoint_url=a.s3_endpoint_url,
        archive_block_offsets=a.archive_block_offsets,
        archive_flush_ms=a.archive_flush_ms,
    ).validate()
