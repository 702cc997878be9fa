"""The top-K job: Kafka -> parse (SQL) -> tenant parameters (broadcast from the config topic) -> bounded
finest-window summaries (SQL) -> sketches (Python) -> Redis + Cassandra; rejected records -> dead-letter topic.

Run locally (MiniCluster):   python -m jobs.topk_job --bounded ...
Submit to a cluster:        scripts/submit.sh run ...
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors import Sink

from connectors.cassandra_sink import CassandraWriter
from connectors.kafka_sinks import ALERT_ROW, alert_rows, alerts_sink, dead_letter_sink
from connectors.kafka_tables import create_raw_events, create_tenant_configs
from connectors.redis_sink import RedisWriter
from jobs.environment import DISCARD, environment
from jobs.progress import execute
from jobs.settings import JobSettings, parse_args
from jobs.start import Refused, Start, start_or_exit
from topk.stores.alerts_topic import ensure_alerts_topic
from topk.stores.cassandra_store import UNREACHABLE, CassandraStore
from topk.stores.config_topic import ensure_config_topic, read_all
from topk.stores.kafka_client import ensure_topic
from udfs.dead_letters import DeadLetterEnvelope, original_kafka_time
from udfs.parse_events import computed_columns, create_parsed_views, register_functions
from udfs.route import DEAD_LETTER, LATE, SUMMARY, of_kind, routed_table, values_per_window
from udfs.tenant_gate import create_parsed_events
from udfs.topk_window import TopKWindowFunction, group_key


def build(
    settings: JobSettings, start: Start, tenant_configs: Sequence[tuple[bytes | None, bytes | None, int]] = ()
) -> StreamExecutionEnvironment:
    """The job, starting at ``start``; ``tenant_configs``: the config topic's records now (``udfs.tenant_gate``)."""
    env, t_env = environment(settings, start)
    register_functions(t_env)
    create_raw_events(t_env, settings.kafka, settings.source, computed_columns(settings.events))
    if settings.kafka.config_topic:
        create_tenant_configs(t_env, settings.kafka, settings.source)
    create_parsed_events(
        t_env, settings.events, settings.sketch, settings.windows, settings.kafka.config_topic, tenant_configs
    )
    create_parsed_views(t_env, settings.windows.allowed_lateness_ms, settings.kafka.dead_letter_max_bytes)
    routed = t_env.to_data_stream(routed_table(t_env, settings.windows, settings.events.max_values))

    of_kind(routed, DEAD_LETTER).assign_timestamps_and_watermarks(original_kafka_time()).map(
        DeadLetterEnvelope(settings.kafka.topic), output_type=Types.STRING()
    ).name("dead-letters").sink_to(dead_letter_sink(settings.kafka))

    windows = settings.windows.specs
    cassandra = CassandraStore(settings.cassandra, settings.cassandra.keyspace, windows, create_schema=True)
    alerting = bool(settings.kafka.alerts_topic)  # else: no alerts, no Kafka transactions
    alerts = (
        values_per_window(of_kind(routed, SUMMARY, LATE), settings.events.max_values, settings.windows)
        .key_by(group_key, key_type=Types.TUPLE([Types.STRING(), Types.STRING()]))
        .process(
            TopKWindowFunction(settings.windows, settings.sketch.k, settings.sketch.alert_phi if alerting else None)
        )
        .name("topk-sketches")
        # one line of Python operators: Flink chains them into one worker, so no result is serialized
        .flat_map(RedisWriter(settings.redis.url, windows, settings.redis.prefix))
        .name("redis-sink")
        .flat_map(CassandraWriter(cassandra))
        .name("cassandra-sink")
        .flat_map(alert_rows, output_type=ALERT_ROW)  # only alerts cross into the JVM
        .name("alerts")
    )
    transactional_id_prefix = f"{settings.source.group_id}-alerts"
    alerts.sink_to(alerts_sink(settings.kafka, transactional_id_prefix) if alerting else Sink(DISCARD)).name(
        "alerts-sink"
    )
    return env


def stored_windows(settings: JobSettings) -> str:
    """What the job's namespace holds already (empty: nothing), for ``jobs.start.plan``."""
    keyspace = settings.cassandra.keyspace
    store = CassandraStore(settings.cassandra, keyspace, settings.windows.specs)
    try:
        return f"keyspace {keyspace} holds windows" if store.holds_windows() else ""
    except UNREACHABLE as err:  # what cannot be checked is not taken for empty
        raise Refused(f"Cassandra could not be checked for windows in keyspace {keyspace} ({err})") from None
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    name, start = start_or_exit(
        settings, "topk", lambda: stored_windows(settings), "scripts/submit.sh replay --into NAME"
    )
    configs = []
    ensure_topic(settings.kafka.client, settings.kafka.dead_letter_topic)  # else the first bad record fails the job
    if settings.kafka.alerts_topic:
        ensure_alerts_topic(settings.kafka)  # so readers can follow it before the first alert
    if settings.kafka.config_topic:
        ensure_config_topic(settings.kafka)  # a source of a topic that does not exist fails the job
        configs = read_all(settings.kafka)
    execute(build(settings, start, configs), name, settings)


if __name__ == "__main__":
    main(sys.argv[1:])
