"""Job parameters: one concern each (defined where the concern lives), parsed from the command line
and validated before anything starts."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from connectors.kafka_sinks import TRANSACTION_TIMEOUT_MS
from connectors.kafka_tables import SourceSettings
from topk.settings import EventSettings, SketchSettings, WindowSettings, add_settings, setting, settings_of
from topk.stores.archive_layout import ArchiveSettings
from topk.stores.cassandra_connection import CassandraConnection
from topk.stores.kafka_client import KafkaSettings
from topk.stores.redis_store import RedisSettings


@dataclass(frozen=True)
class RunSettings:
    """Run: where it starts, checkpoints and parallelism."""

    resume_from: str = setting(
        "",
        "start from this savepoint or retained checkpoint, or 'latest': the newest retained checkpoint of this "
        "job (its consumer group) under the checkpoint dir; without one, a start without state is refused where "
        "the group has committed offsets or the namespace holds results (jobs/start.py)",
    )
    overwrite: bool = setting(
        False, "start without state even over committed offsets or stored results: a replay over the live results"
    )
    checkpoint_dir: str = setting(
        "", "file:// or s3:// URI, the job's checkpoints under <dir>/<consumer group>; default: cluster config"
    )
    checkpoint_interval_ms: int = setting(10_000, "how often state is checkpointed")
    parallelism: int = setting(1, "subtasks per operator")
    progress_interval_s: int = setting(5, "on the local MiniCluster, log the source's progress this often (0: never)")

    def validate(self) -> RunSettings:
        if self.checkpoint_interval_ms < 1 or self.parallelism < 1 or self.progress_interval_s < 0:
            raise ValueError("checkpoint interval and parallelism must be >= 1, progress interval >= 0")
        return self


@dataclass(frozen=True)
class JobSettings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    source: SourceSettings = field(default_factory=SourceSettings)
    events: EventSettings = field(default_factory=EventSettings)
    windows: WindowSettings = field(default_factory=WindowSettings)
    sketch: SketchSettings = field(default_factory=SketchSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    cassandra: CassandraConnection = field(default_factory=CassandraConnection)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    run: RunSettings = field(default_factory=RunSettings)


def parse_args(argv: Sequence[str] | None = None) -> JobSettings:
    """The settings of every concern, from the flags; ``ValueError`` names the first bad one."""
    p = argparse.ArgumentParser(description="Streaming top-K heavy hitters: Kafka -> Flink -> Redis + Cassandra")
    concerns = {f.name: f.default_factory for f in fields(JobSettings)}
    for concern in concerns.values():
        add_settings(p, concern)
    a = p.parse_args(argv)
    settings = JobSettings(**{name: settings_of(concern, a) for name, concern in concerns.items()})
    # an alerts transaction stays open from one checkpoint to the next one's end: past its timeout the
    # broker aborts it, and that checkpoint's alerts are lost
    if settings.kafka.alerts_topic and settings.run.checkpoint_interval_ms > TRANSACTION_TIMEOUT_MS // 2:
        raise ValueError(
            f"--checkpoint-interval-ms above {TRANSACTION_TIMEOUT_MS // 2} with --alerts-topic: alerts are written "
            f"in transactions of one checkpoint interval, which Kafka aborts after {TRANSACTION_TIMEOUT_MS} ms"
        )
    return settings
