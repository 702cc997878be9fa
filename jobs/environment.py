"""The execution environment both jobs share: RocksDB state, checkpoints, our jars, our Python
code for the workers, and Flink's filesystem plugins (``s3://`` checkpoints)."""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment

from jobs.jars import job_jar_urls
from jobs.progress import FETCH_INTERVAL_MS, free_port
from jobs.settings import JobSettings
from jobs.start import Start
from udfs.topk_window import states_per_group

DISCARD = "org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink"  # ends a branch that writes itself
ROOT = Path(__file__).resolve().parent.parent
JOB_PACKAGES = ("jobs", "udfs", "connectors")  # not installed (docs/architecture.md, "Packages"): shipped with each job


CACHED_GROUPS = 12_000  # groups whose state the Python worker keeps between rows


def environment(settings: JobSettings, start: Start) -> tuple[StreamExecutionEnvironment, StreamTableEnvironment]:
    """The environment of a job that starts at ``start`` (``jobs.start.plan``)."""
    conf = Configuration()
    conf.set_string("table.local-time-zone", "UTC")
    conf.set_string("rest.bind-port", str(free_port()))  # the local MiniCluster's REST API (jobs/progress.py)
    conf.set_string("metrics.fetcher.update-interval", str(FETCH_INTERVAL_MS))
    if settings.source.idle_timeout_ms:
        conf.set_string("table.exec.source.idle-timeout", f"{settings.source.idle_timeout_ms} ms")
    # Always checkpoint: state lives in RocksDB, and Kafka sinks flush on checkpoints.
    conf.set_string("pipeline.object-reuse", "true")
    conf.set_string("state.backend.type", "rocksdb")
    conf.set_string("execution.checkpointing.incremental", "true")
    conf.set_string("execution.checkpointing.interval", f"{settings.run.checkpoint_interval_ms} ms")
    # A checkpoint waits for the Python workers to finish what they were sent: rows (never events)
    # cost ~1-3 ms each there, so a bundle of 1,000 holds a barrier seconds, not Flink's 100,000 for minutes;
    # a burst (every group's day ending at once) may still make one checkpoint expire: not the job.
    conf.set_string("python.fn-execution.bundle.size", "1000")
    conf.set_string("execution.checkpointing.tolerable-failed-checkpoints", "3")
    # The worker caches this many states, each group's one by one (``states_per_group``), least recently
    # used first out: with fewer than its groups' states, a job that visits every group each minute
    # (10,000 dimension values) reads every row's state from the JVM again (3 states a group in 20,000
    # places held ~6,666 groups: 10,001 spent ~40 % of the operator's time waiting on those reads).
    # What stays cached per group is its window index, versions and the summaries last read or written.
    alerting = bool(settings.kafka.alerts_topic)
    conf.set_string("python.state.cache-size", str(CACHED_GROUPS * states_per_group(alerting)))
    # Checkpoints outlive a cancelled or failed job, so it can be resumed from the latest (jobs/start.py)
    conf.set_string("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    conf.set_string("execution.checkpointing.num-retained", "1")  # the one --resume-from latest takes over
    if start.checkpoint_dir:
        conf.set_string("execution.checkpointing.dir", start.checkpoint_dir)
    if start.restore_from:
        conf.set_string("execution.state-recovery.path", start.restore_from)
        conf.set_string("execution.state-recovery.claim-mode", "CLAIM" if start.claim else "NO_CLAIM")
    if settings.archive.s3_endpoint_url:  # an S3-compatible server (SeaweedFS, MinIO): for s3:// checkpoints too
        conf.set_string("s3.endpoint", settings.archive.s3_endpoint_url)
        conf.set_string("s3.path.style.access", "true")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(settings.run.parallelism)
    env.add_jars(*job_jar_urls())
    env.add_python_file(job_code_zip())
    load_filesystem_plugins(env)
    return env, StreamTableEnvironment.create(env)


def job_code_zip() -> str:
    """The job's own packages (``JOB_PACKAGES``; ``topk`` is installed) as one zip, which Flink's
    ``python.files`` puts on the PYTHONPATH of every Python worker, on the local MiniCluster as on a
    remote cluster. Named by its content, so a run reuses the zip of an earlier one with the same code."""
    files = sorted(f for package in JOB_PACKAGES for f in (ROOT / package).rglob("*.py"))
    digest = hashlib.sha256()
    for f in files:
        digest.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    target = Path(tempfile.gettempdir()) / f"topk-job-code-{digest.hexdigest()[:16]}.zip"
    if not target.exists():
        partial = target.with_suffix(f".{id(files)}.part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
            for f in files:
                z.write(f, f.relative_to(ROOT))
        partial.replace(target)  # whole or not at all, when two jobs start at once
    return str(target)


def load_filesystem_plugins(env: StreamExecutionEnvironment) -> None:
    """Register the filesystems of Flink's plugins dir (``s3://``) with this environment's settings.
    Cluster processes and ``flink run`` do this at start-up; a local MiniCluster started from Python
    does not, so without it ``s3://`` checkpoints fail there. S3 credentials come from the environment
    (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, or the AWS provider chain), never from flags."""
    jvm = get_gateway().jvm
    conf = env._j_stream_execution_environment.getConfiguration()
    plugins = jvm.org.apache.flink.core.plugin.PluginUtils.createPluginManagerFromRootFolder(conf)
    jvm.org.apache.flink.core.fs.FileSystem.initialize(conf, plugins)
