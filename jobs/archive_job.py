"""The archive job: Kafka -> parse (SQL) -> every record, by Kafka partition -> Parquet on S3.

The exact path (query/archive.py) reads what this writes. It reads the topic on its own, with
consumer group ``<--group-id>-archive``, so it never slows the top-K job down.

Run locally (MiniCluster):   python -m jobs.archive_job --bounded --s3-endpoint-url http://127.0.0.1:8333 ...
Submit to a cluster:        TOPK_JOB=archive scripts/submit.sh run ...
"""

from __future__ import annotations

import sys
from dataclasses import replace

from pyarrow import fs
from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors import Sink

from connectors.kafka_tables import create_raw_events
from connectors.parquet_archive import ParquetArchiveWriter
from jobs.environment import DISCARD, environment
from jobs.progress import execute
from jobs.settings import JobSettings, parse_args
from jobs.start import Start, start_or_exit
from topk.stores.archive_layout import open_archive
from udfs.archive_rows import archive_rows
from udfs.parse_events import computed_columns, register_functions


def own_group(settings: JobSettings) -> JobSettings:
    """The settings with the archive's own consumer group, ``<--group-id>-archive``."""
    return replace(settings, source=replace(settings.source, group_id=f"{settings.source.group_id}-archive"))


def build(settings: JobSettings, start: Start) -> StreamExecutionEnvironment:
    """The archive job for ``settings`` as ``own_group`` gives them, starting at ``start``."""
    env, t_env = environment(settings, start)
    register_functions(t_env)
    create_raw_events(t_env, settings.kafka, settings.source, computed_columns(settings.events))
    writer = ParquetArchiveWriter(settings.archive, settings.events.dimensions)
    (
        t_env.to_data_stream(archive_rows(t_env, settings.events.dimensions, settings.kafka.dead_letter_max_bytes))
        .key_by(lambda row: row.partition, key_type=Types.INT())
        .process(writer)
        .name("parquet-archive")
        .sink_to(Sink(DISCARD))
    )
    return env


def archived(settings: JobSettings) -> str:
    """What the archive holds already (empty: nothing), for ``jobs.start.plan``."""
    filesystem, base = open_archive(settings.archive.url, settings.archive.s3_endpoint_url)
    if filesystem.get_file_info(fs.FileSelector(base, allow_not_found=True)):
        return f"the archive {settings.archive.url} holds records"
    return ""


def main(argv: list[str] | None = None) -> None:
    settings = own_group(parse_args(argv))
    name, start = start_or_exit(settings, "archive", lambda: archived(settings), "--archive-url <a fresh location>")
    execute(build(settings, start), name, settings)


if __name__ == "__main__":
    main(sys.argv[1:])
