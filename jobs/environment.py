"""The execution environment both jobs share: RocksDB state, checkpoints, our jars, and Flink's
filesystem plugins (``s3://`` checkpoints)."""

from __future__ import annotations

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway
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
    conf.set_string("pipeline.object-reuse", "true")
    conf.set_string("state.backend.type", "rocksdb")
    conf.set_string("execution.checkpointing.incremental", "true")
    conf.set_string("execution.checkpointing.interval", f"{settings.checkpoint_interval_ms} ms")
    # A checkpoint waits for the Python workers to finish what they were sent: rows (never events)
    # cost ~1-3 ms each there, so a bundle of 1,000 holds a barrier seconds, not Flink's 100,000 for minutes;
    # a burst (every group's day ending at once) may still make one checkpoint expire: not the job.
    conf.set_string("python.fn-execution.bundle.size", "1000")
    conf.set_string("execution.checkpointing.tolerable-failed-checkpoints", "3")
    # The worker caches the state of this many groups (keys): with Flink's 1,000, a job with more
    # groups than that (10,000 dimension values) read every row's state from the JVM (15.6 -> 11.1
    # ms a row measured on 10,000 values); what stays cached per group is its window index and
    # the summaries last read or written (the finest windows' are small when the groups are many).
    conf.set_string("python.state.cache-size", "20000")
    if settings.checkpoint_dir:
        conf.set_string("execution.checkpointing.dir", settings.checkpoint_dir)
    if settings.s3_endpoint_url:  # an S3-compatible server (SeaweedFS, MinIO): for s3:// checkpoints too
        conf.set_string("s3.endpoint", settings.s3_endpoint_url)
        conf.set_string("s3.path.style.access", "true")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(settings.parallelism)
    env.add_jars(*job_jar_urls())
    load_filesystem_plugins(env)
    return env, StreamTableEnvironment.create(env)


def load_filesystem_plugins(env: StreamExecutionEnvironment) -> None:
    """Register the filesystems of Flink's plugins dir (``s3://``) with this environment's settings.
    Cluster processes and ``flink run`` do this at start-up; a local MiniCluster started from Python
    does not, so without it ``s3://`` checkpoints fail there. S3 credentials come from the environment
    (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, or the AWS provider chain), never from flags."""
    jvm = get_gateway().jvm
    conf = env._j_stream_execution_environment.getConfiguration()
    plugins = jvm.org.apache.flink.core.plugin.PluginUtils.createPluginManagerFromRootFolder(conf)
    jvm.org.apache.flink.core.fs.FileSystem.initialize(conf, plugins)
