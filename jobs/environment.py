"""The execution environment both jobs share: RocksDB state, checkpoints, our jars."""

from __future__ import annotations

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from jobs.jars import job_jar_urls
from jobs.settings import JobSettings

DISCARD = "org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink"  # ends a branch that writes itself


def environment(settings: JobSettings) -> tuple[StreamExecutionEnvironment, StreamTableEnvironment]:
    conf = Configuration()
    conf.set_string("table.local-time-zone", "UTC")
    if settings.idle_timeout_ms:
        conf.set_string("table.exec.source.idle-timeout", f"{settings.idle_timeout_ms} ms")
    # Always checkpoint: state lives in RocksDB, and Kafka sinks flush on checkpoints.
    conf.set_string("state.backend.type", "rocksdb")
    conf.set_string("execution.checkpointing.incremental", "true")
    conf.set_string("execution.checkpointing.interval", f"{settings.checkpoint_interval_ms} ms")
    if settings.checkpoint_dir:
        conf.set_string("execution.checkpointing.dir", settings.checkpoint_dir)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(settings.parallelism)
    env.add_jars(*job_jar_urls())
    return env, StreamTableEnvironment.create(env)
