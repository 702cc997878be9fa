"""Job parameters: parsed from the command line, validated before anything starts."""

from __future__ import annotations

import argparse
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from connectors.cassandra_connection import CassandraConnection, add_cassandra_arguments, connection_of
from connectors.kafka_client import KafkaClient, kafka_client

_UNITS_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
HOUR_MS, DAY_MS = _UNITS_MS["h"], _UNITS_MS["d"]
ALL_TIME = "all"
FOREVER = "forever"
KEYSPACE_NAME = r"[A-Za-z][A-Za-z0-9_]{0,47}"  # Cassandra's rule for unquoted keyspace names
MAX_RETENTION_MS = 7300 * DAY_MS


@dataclass(frozen=True)
class WindowSpec:
    """A tumbling window size; ``size_ms == 0`` is the all-time view. Stored windows are kept for
    ``retention_ms`` after they end (event time), ``None``: forever."""

    label: str
    size_ms: int
    retention_ms: int | None = None

    @property
    def is_all_time(self) -> bool:
        return self.size_ms == 0

    def start_of(self, ts_ms: int) -> int:
        return 0 if self.is_all_time else ts_ms - ts_ms % self.size_ms

    def expires_at(self, start_ms: int) -> int | None:
        """When the stored window starting at ``start_ms`` expires (epoch ms), ``None``: never."""
        return None if self.retention_ms is None else start_ms + self.size_ms + self.retention_ms

    def seconds_left(self, start_ms: int, now_ms: int) -> int | None:
        """Whole seconds (rounded up) the window starting at ``start_ms`` is still kept at ``now_ms``:
        0 or less once expired, ``None`` if kept forever."""
        expires = self.expires_at(start_ms)
        return None if expires is None else -(-(expires - now_ms) // 1000)

    def retained_since(self, now_ms: int) -> int | None:
        """The earliest start of a window still kept at ``now_ms``; ``None``: every window is."""
        return None if self.retention_ms is None else now_ms - self.retention_ms - self.size_ms + 1


def default_retention_ms(size_ms: int) -> int | None:
    """Windows under an hour are kept 2 days, under a day 90 days, longer ones and all-time forever."""
    if size_ms == 0 or size_ms >= DAY_MS:
        return None
    return 2 * DAY_MS if size_ms < HOUR_MS else 90 * DAY_MS


def parse_window(label: str, retention_ms: int | str | None = "default") -> WindowSpec:
    """``"1m"``, ``"15m"``, ``"1h"``, ``"1d"`` or ``"all"`` (whole minutes: Redis keys count minutes)."""
    if label == ALL_TIME:
        return WindowSpec(ALL_TIME, 0)
    match = re.fullmatch(r"([1-9][0-9]*)([mhd])", label)
    if not match:
        raise ValueError(f"unknown window size {label!r}: use e.g. 1m, 15m, 1h, 1d or all")
    size = int(match.group(1)) * _UNITS_MS[match.group(2)]
    return WindowSpec(label, size, default_retention_ms(size) if retention_ms == "default" else retention_ms)


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
        return min((w for w in self.windows if not w.is_all_time), key=lambda w: w.size_ms)

    def validate(self) -> JobSettings:
        sized = [w for w in self.windows if not w.is_all_time]
        if not sized:
            raise ValueError("at least one sized window (e.g. 1m) is required")
        if len({w.label for w in self.windows}) != len(self.windows):
            raise ValueError("window sizes must be distinct")
        sized.sort(key=lambda w: w.size_ms)
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


def iso(epoch_ms: int) -> str:
    """Epoch ms as ISO-8601 in UTC with milliseconds, e.g. ``2026-01-01T10:00:00.123Z``."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_minute(epoch_ms: int) -> str:
    """Epoch ms as ``YYYY-MM-DD HH:MM`` in UTC (for people)."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def parse_time_ms(text: str) -> int:
    """Epoch ms (1 to 15 digits) or ISO-8601 (UTC when no offset is given); ``ValueError`` otherwise."""
    if re.fullmatch(r"[0-9]{1,15}", text):
        return int(text)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() * 1000)


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


def parse_windows(text: str, retention: str = "") -> tuple[WindowSpec, ...]:
    """``"1m,1h,1d,all"`` as window specs, kept as ``retention`` says (``"1m=2d,1h=90d,1d=forever"``;
    a window not named keeps ``default_retention_ms``). A coarser window is kept at least as long as
    a finer one, so a range can always be answered from the coarser windows once the finer expire."""
    kept: dict[str, int | None] = {}
    for part in _csv(retention):
        label, _, duration = part.partition("=")
        if duration == FOREVER:
            kept[label.strip()] = None
        else:
            try:
                kept[label.strip()] = parse_window(duration.strip()).size_ms
            except ValueError:
                raise ValueError(f"bad retention {part!r}: e.g. 1m=2d, 1h=90d or 1d={FOREVER}") from None
    windows = tuple(parse_window(w, kept.get(w, "default")) for w in _csv(text))
    if any((w.retention_ms or 0) > MAX_RETENTION_MS for w in windows):
        raise ValueError("retention is at most 7300d (Cassandra's longest TTL, 20 years), or forever")
    unknown = set(kept) - {w.label for w in windows if not w.is_all_time}
    if unknown:
        raise ValueError(f"retention for windows not configured: {', '.join(sorted(unknown))}")
    sized = sorted((w for w in windows if not w.is_all_time), key=lambda w: w.size_ms)
    for finer, coarser in itertools.pairwise(sized):
        if coarser.retention_ms is not None and (
            finer.retention_ms is None or finer.retention_ms > coarser.retention_ms
        ):
            raise ValueError(f"{coarser.label} windows must be kept at least as long as {finer.label} windows")
    return windows


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


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
        dimensions=_csv(a.dimensions),
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
