"""ParseEvent.java against its Python twins: the common ISO-8601 timestamp, read without java.time's
formatter, must be what ``OffsetDateTime.parse`` answers (it hands every other form to it); the
dimensions an event counts under must be what ``topk.events.dimension_value`` computes."""

from __future__ import annotations

import json
import random

import pytest
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from jobs.jars import job_jar_urls
from topk.events import dimension_value

pytestmark = pytest.mark.integration


def timestamps(n: int) -> list[str]:
    """Valid and invalid dates, times, fractions and offsets, in the fast path's shape and around it."""
    rnd = random.Random(5)
    zones = ["Z", "z", "+00:00", "-00:00", "+05:30", "-08:00", "+17:59", "-17:59", "+18:00", "+00:60", "+0530", ""]
    out = [
        "2024-02-29T23:59:59.999Z",
        "2023-02-29T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "1969-12-31T23:59:59.9995Z",
        "9999-12-31T23:59:59.999999999+01:00",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00:60Z",
        "2024-01-01T00:00Z",
        "2024-01-01t00:00:00Z",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00.1234567890Z",
        "\uff12\uff10\uff12\uff14-01-01T00:00:00Z",  # full-width digits
    ]
    for _ in range(n):
        digits = "".join(str(rnd.randrange(10)) for _ in range(rnd.randrange(11)))
        out.append(
            f"{rnd.randrange(10000):04d}-{rnd.randrange(14):02d}-{rnd.randrange(33):02d}T{rnd.randrange(25):02d}:"
            f"{rnd.randrange(61):02d}:{rnd.randrange(61):02d}{'.' + digits if digits else ''}{rnd.choice(zones)}"
        )
    return out


def test_fast_iso_path_answers_as_java_time() -> None:
    StreamExecutionEnvironment.get_execution_environment().add_jars(*job_jar_urls())  # our classes in the gateway
    jvm = get_gateway().jvm
    fast_answers = 0
    for s in timestamps(3000):
        fast = jvm.topk.udfs.ParseEvent.isoMillis(s)
        if fast is None:
            continue
        fast_answers += 1
        assert fast == jvm.java.time.OffsetDateTime.parse(s).toInstant().toEpochMilli(), s
    assert fast_answers > 500  # the fast path is exercised, not bypassed


def test_dimension_values_are_the_ones_python_computes():
    """The JVM's dimensions of an event (plain, eventType, combinations with | and \\ in their parts)
    are ``topk.events.dimension_value``'s, which the exact counts of the tests use."""
    StreamExecutionEnvironment.get_execution_environment().add_jars(*job_jar_urls())
    jvm = get_gateway().jvm
    dimensions = ("region", "eventType", "region+eventType", "shelf+region", "eventType+shelf+region")
    parse, kafka_ms = jvm.topk.udfs.ParseEvent(), 1_700_000_000_000
    kafka_ts = jvm.org.apache.flink.table.data.TimestampData.fromEpochMillis(kafka_ms)
    declared = jvm.org.apache.flink.table.data.StringData.fromString(",".join(dimensions))
    rnd = random.Random(11)
    values = ["eu-west", "a|b", "c\\", "\\|", "|", "", 7, None, ["x"], "ü", "x" * 200, "é" * 130, "🚀" * 256, "y" * 257]
    for n in range(300):
        payload = {"itemId": f"i{n}", **{f: rnd.choice(values) for f in ("region", "shelf") if rnd.random() < 0.8}}
        metadata = {"timestamp": kafka_ms, **({"eventType": "generic"} if rnd.random() < 0.5 else {})}
        event = {"metadata": metadata, "payload": payload}
        row = parse.eval(json.dumps(event).encode(), kafka_ts, declared, 1024, 1_000_000, 86_400_000, 60_000)
        assert row.getString(0) is None, event
        got, keys, vals = row.getMap(4), row.getMap(4).keyArray(), row.getMap(4).valueArray()
        job = {keys.getString(i).toString(): vals.getString(i).toString() for i in range(got.size())}
        expected = {d: v for d in dimensions if (v := dimension_value(event, d)) is not None}
        assert job == expected, event
