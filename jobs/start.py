"""Where a job starts: from a retained checkpoint or a savepoint, or without state only where that
overwrites nothing.

A job's checkpoints go under ``<checkpoint dir>/<consumer group>`` (``--checkpoint-dir``, else the
cluster's ``execution.checkpointing.dir``), and are retained when it is cancelled or fails, so
``--resume-from latest`` finds the newest one of this job (its consumer group) there.

``--resume-from latest`` finds the newest one of this job (its consumer group) there, and restores it
in CLAIM mode: the job takes it over, so it is discarded once the job has newer ones (and with them
when the job finishes or is stopped with a savepoint). A job retains one checkpoint, so no older one
lingers to be taken for the latest.

A start without state reads from the group's committed offsets (or from ``--start-from``) with empty
windows: where the group has committed offsets, or the namespace already holds results, it would
replace complete windows (an hour, a day, all-time) with partial ones, and the archive would skip
what the lost state still held. Such a start is refused (``Refused``, exit code 2) with the ways on:
resume from the latest retained checkpoint or a savepoint, or replay into a fresh namespace, or over
the live results with ``--overwrite`` (what ``scripts/submit.sh replay`` without ``--into`` passes).
Where the namespace cannot be checked (its store is down), the start is refused too. A cluster started
from a savepoint (the Kubernetes operator's upgrades set ``execution.state-recovery.path``) is a resume
from it. Any start is
refused while a job of the same name (kind, topic and consumer group) runs on the cluster: two of
them would write one namespace.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from pyarrow import fs

from jobs.flink_conf import load
from jobs.settings import JobSettings
from topk.stores.archive_layout import open_archive

LATEST = "latest"


class Refused(ValueError):
    """A start without state that would overwrite results; the message names the ways on."""


@dataclass(frozen=True)
class Start:
    checkpoint_dir: str  # this job's checkpoints (``<base>/<group>``); empty: Flink's default (none retained)
    restore_from: str = ""  # the checkpoint or savepoint to start from; empty: without state
    claim: bool = False  # take the restored checkpoint over (a retained one, not a savepoint)


def job_name(kind: str, settings: JobSettings) -> str:
    """The name a job runs under on the cluster: its kind, topic and consumer group (what its state is of)."""
    return f"{kind}:{settings.kafka.topic}:{settings.source.group_id}"


def plan(settings: JobSettings, name: str, results: Callable[[], str], fresh: str) -> Start:
    """Where the job ``name`` of ``settings`` starts; ``results()`` describes what its namespace already
    holds (empty: nothing), ``fresh`` how to name a fresh one. ``Refused`` for a start over a running job
    of that name, or without state over existing results or offsets."""
    running = running_jobs(name)
    if running:
        raise Refused(f"job {name} runs on the cluster already ({', '.join(running)}): cancel or stop it first")
    base = settings.run.checkpoint_dir or cluster_setting("execution.checkpointing.dir")
    checkpoint_dir = f"{base.rstrip('/')}/{settings.source.group_id}" if base else ""
    endpoint = settings.archive.s3_endpoint_url or cluster_setting("s3.endpoint")
    wanted = settings.run.resume_from
    restore = (latest_checkpoint(checkpoint_dir, endpoint) if wanted == LATEST else wanted) or operator_restore()
    if restore or settings.run.overwrite:
        return Start(checkpoint_dir, restore, claim=bool(restore) and wanted == LATEST)
    found = [f for f in (committed_offsets(settings), results()) if f]
    if found:
        raise Refused(refusal(found, checkpoint_dir, wanted == LATEST, fresh))
    return Start(checkpoint_dir)


def start_or_exit(settings: JobSettings, kind: str, results: Callable[[], str], fresh: str) -> tuple[str, Start]:
    """The job's name and start (``plan``), for a job's ``main``: a refusal is printed and exits 2."""
    name = job_name(kind, settings)
    try:
        return name, plan(settings, name, results, fresh)
    except Refused as refused:
        print(f"error: {refused}", file=sys.stderr)
        sys.exit(2)


def refusal(found: list[str], checkpoint_dir: str, looked: bool, fresh: str) -> str:
    retained = "none is retained" if looked else "--resume-from latest takes the newest"
    return (
        f"refusing to start without state: {'; '.join(found)}. A start from there with empty windows would "
        "overwrite complete results with partial ones. Either resume: scripts/submit.sh resume latest "
        f"(--resume-from latest: the newest retained checkpoint under {checkpoint_dir or '--checkpoint-dir'}; "
        f"{retained}) or scripts/submit.sh resume <savepoint>; or replay into a fresh namespace ({fresh}), "
        "or over the live results: scripts/submit.sh replay --from earliest (--start-from earliest --overwrite)"
    )


def running_jobs(name: str) -> list[str]:
    """The ids of the jobs named ``name`` that run on the cluster (``FLINK_CONF_DIR``'s REST address);
    none without a cluster, or when its REST API does not answer (then the submission fails anyway)."""
    host, port = cluster_setting("rest.address"), cluster_setting("rest.port") or "8081"
    if not host:
        return []
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/jobs/overview", timeout=5) as page:
            jobs = json.load(page)["jobs"]
    except (OSError, ValueError, KeyError):
        return []
    over = {"FINISHED", "FAILED", "CANCELED"}
    return [j["jid"] for j in jobs if j.get("name") == name and j.get("state") not in over]


def committed_offsets(settings: JobSettings) -> str:
    """What the job's consumer group has committed on its topic (empty: nothing)."""
    topic, group = settings.kafka.topic, settings.source.group_id
    consumer = KafkaConsumer(  # a mistyped topic is not created here, empty, for the job to read nothing from
        **settings.kafka.client.kafka_python(), group_id=group, enable_auto_commit=False, allow_auto_create_topics=False
    )
    try:  # a consumer waits for the group's coordinator (a new broker creates it first), the admin client fails
        parts = sorted(consumer.partitions_for_topic(topic) or ())
        mine = [p for p in parts if consumer.committed(TopicPartition(topic, p)) is not None]
    finally:
        consumer.close()
    return f"consumer group {group} has committed offsets on {topic} (partitions {mine})" if mine else ""


def latest_checkpoint(checkpoint_dir: str, s3_endpoint: str = "") -> str:
    """The newest retained checkpoint (``.../<job id>/chk-N``, with its ``_metadata``) under
    ``checkpoint_dir``; empty if none."""
    if not checkpoint_dir:
        return ""
    filesystem, root = open_archive(checkpoint_dir, s3_endpoint)
    found = filesystem.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True))
    done = [f for f in found if f.path.endswith("/_metadata") and f.path.split("/")[-2].startswith("chk-")]
    if not done:
        return ""
    newest = max(done, key=lambda f: (f.mtime_ns or 0, int(f.path.split("/")[-2].removeprefix("chk-"))))
    scheme = checkpoint_dir.split("://", 1)[0]
    return f"{scheme}://{newest.path.rsplit('/', 1)[0]}" if scheme == "s3" else Path(newest.path).parent.as_uri()


def operator_restore() -> str:
    """The savepoint or checkpoint the cluster itself was told to start the job from (the Kubernetes
    operator's upgrade or restart: ``jobs/k8s.py``); empty when none."""
    return cluster_setting("execution.state-recovery.path") or cluster_setting("execution.savepoint.path")


def cluster_setting(key: str) -> str:
    """A setting of the cluster the job is submitted to (``FLINK_CONF_DIR``'s config.yaml; ``flink run``
    and ``scripts/submit.sh`` set it); empty when there is none (a local MiniCluster)."""
    conf = Path(os.environ.get("FLINK_CONF_DIR", "")) / "config.yaml"
    if not os.environ.get("FLINK_CONF_DIR") or not conf.is_file():
        return ""
    value = _flat(load(conf.read_text())).get(key)
    return "" if value is None else str(value)


def _flat(settings: dict, prefix: str = "") -> dict[str, object]:
    """Flink's config.yaml as flat keys (it may nest them: ``execution: {checkpointing: {dir: ...}}``)."""
    flat: dict[str, object] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat
