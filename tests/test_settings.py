import pytest

from jobs.settings import parse_args
from topk.windows import parse_window, sql_interval


def test_defaults_are_valid():
    s = parse_args([])
    assert [w.label for w in s.windows.specs] == ["1m", "1h", "1d", "all"]
    assert s.windows.base.size_ms == 60_000


def test_window_parsing():
    assert parse_window("15m").size_ms == 900_000
    assert parse_window("all").is_all_time
    assert parse_window("1h").start_of(3_600_000 * 5 + 17) == 3_600_000 * 5
    for bad in ("30s", "0m", "1w", "h"):
        with pytest.raises(ValueError, match="unknown window size"):
            parse_window(bad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k", "2000", "--capacity", "1000"], "k <= capacity"),
        (["--windows", "all"], "sized window"),
        (["--windows", "2m,3m"], "not a multiple"),
        (["--windows", "1m,15m,1h,10m"], "15m is not a multiple of the next finer window 10m"),
        (["--windows", "1m,1m"], "distinct"),
        (["--dimensions", "region,bad-name"], "bad dimension"),
        (["--dimensions", "region+region"], "bad dimension"),
        (["--dimensions", "all+region"], "bad dimension"),
        (["--dimensions", "region,eventType,region"], "named twice"),
    ],
)
def test_bad_settings_fail_fast(args, message):
    with pytest.raises(ValueError, match=message):
        parse_args(args)


def test_sql_interval_literal():
    assert sql_interval(5_000) == "INTERVAL '0 00:00:05.000' DAY TO SECOND(3)"
    assert sql_interval(7 * 86_400_000 + 3_723_004) == "INTERVAL '7 01:02:03.004' DAY TO SECOND(3)"


def test_a_store_flag_means_the_same_to_the_job_and_the_query_side():
    """The job and the API read --redis-* and --cassandra-* through the same definitions."""
    import argparse

    from topk.query.connect import add_storage_arguments
    from topk.settings import settings_of
    from topk.stores.cassandra_connection import CassandraConnection
    from topk.stores.redis_store import RedisSettings

    flags = [
        "--redis-url",
        "rediss://r:6380/1",
        "--redis-prefix",
        "t:1",
        "--cassandra-hosts",
        "a, b",
        "--cassandra-keyspace",
        "ks",
        "--windows",
        "1h,1d",
        "--retention",
        "1h=3d",
    ]
    job = parse_args(flags)
    p = argparse.ArgumentParser()
    add_storage_arguments(p)
    a = p.parse_args(flags)
    assert settings_of(RedisSettings, a) == job.redis == RedisSettings("rediss://r:6380/1", "t:1")
    assert settings_of(CassandraConnection, a) == job.cassandra
    assert job.cassandra.hosts == ("a", "b")
    assert [w.retention_ms for w in job.windows.specs] == [3 * 86_400_000, 400 * 86_400_000]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redis-prefix", "a b"], "bad Redis prefix"),
        (["--redis-url", "redis://u:p@h:6379/0"], "credentials"),
        (["--cassandra-keyspace", "1x"], "bad Cassandra keyspace"),
        (["--start-from", "yesterday"], "bad --start-from"),
        (["--archive-buffer-bytes", "0"], "archive buffer bytes"),
        (["--cms-width", str(1 << 18), "--cms-depth", "5"], "at most 1048576 counters"),
        (["--dead-letter-topic", ""], "not a Kafka topic name"),
        (["--topic", "events dlq"], "not a Kafka topic name"),
        (["--config-topic", ".."], "not a Kafka topic name"),
        (["--alerts-topic", "x" * 250], "not a Kafka topic name"),
        (["--dead-letter-topic", "events"], "--dead-letter-topic and --topic are the same topic"),
        (["--alerts-topic", "topk-config"], "--alerts-topic and --config-topic are the same topic"),
        (["--alerts-topic", "a", "--checkpoint-interval-ms", "450001"], "with --alerts-topic"),
    ],
)
def test_each_concern_validates_its_own_flags(args, message):
    with pytest.raises(ValueError, match=message):
        parse_args(args)


def test_an_entry_point_exits_with_the_reason(capsys):
    from topk.generator.verify import main as verify

    with pytest.raises(SystemExit) as exit_:
        verify(["--start-ms", "0", "--shape", "sine"])
    assert exit_.value.code == 2
    assert "unknown shape 'sine'" in capsys.readouterr().err


def test_topics_may_use_every_character_kafka_allows_and_optional_ones_may_be_empty():
    settings = parse_args(["--config-topic", "", "--alerts-topic", "a.B_c-9", "--checkpoint-interval-ms", "450000"])
    assert (settings.kafka.config_topic, settings.kafka.alerts_topic) == ("", "a.B_c-9")
