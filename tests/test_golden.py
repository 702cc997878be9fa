"""The golden files (tests/golden, written by ``python -m tests.golden.make``) as Python reads them;
the JUnit tests in tests/jvm read the same files (scripts/junit.sh), so a format or a rule that drifts in
either language fails here or there: MurmurHash3 of tricky text, serialized sketches from empty to far
past capacity (decoded field by field, then encoded to the same bytes), and raw events with the
verdict each gets."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import mmh3
import pytest

from topk.events import ITEM_FIELDS, dimension_value
from topk.query.ingest import EventLimits, Rejected, validate
from topk.sketches import HeavyHittersSketch
from topk.tenant_config import check

GOLDEN = Path(__file__).resolve().parent / "golden"


def golden(name: str) -> object:
    return json.loads((GOLDEN / name).read_text())


@pytest.mark.parametrize("case", golden("murmur3.json"), ids=lambda c: f"{c['text'][:8]!r}-{c['seed']}")
def test_murmur3(case):
    assert list(mmh3.hash64(case["text"].encode(), case["seed"], signed=True)) == [case["h1"], case["h2"]]


@pytest.mark.parametrize("case", golden("summaries.json"), ids=lambda c: f"{c['capacity']}-{c['total']}")
def test_summaries_decode_to_their_fields_and_encode_to_their_bytes(case):
    sketch = HeavyHittersSketch.deserialize(bytes.fromhex(case["bytes"]))
    ss, cms = sketch.space_saving, sketch.count_min
    assert (ss.capacity, cms.width, cms.depth) == (case["capacity"], case["width"], case["depth"])
    assert (ss.total_weight, ss.floor, cms.total_weight) == (case["total"], case["floor"], case["total"])
    assert sorted([x.item, x.estimate, x.estimate - x.lower_bound] for x in ss.items()) == case["items"]
    assert cms.table.ravel().tolist() == case["table"]
    assert sketch.serialize().hex() == case["bytes"]


def test_events_get_their_verdicts():
    corpus = golden("events.json")
    assert len(corpus["cases"]) > 30
    assert corpus["limits"] == {f: getattr(EventLimits(), f) for f in corpus["limits"]}
    for case in corpus["cases"]:
        raw = base64.b64decode(case["raw"])
        try:
            event = validate(raw, corpus["kafka_ms"], EventLimits())
        except Rejected as rejected:
            assert rejected.reason == case["reason"], raw
            continue
        assert case["reason"] is None, raw
        etype = event["metadata"].get("eventType") or "generic"
        assert str(event["payload"][ITEM_FIELDS[etype]]) == case["item"], raw
        dims = {d: v for d in corpus["dimensions"] if (v := dimension_value(event, d)) is not None}
        assert dims == case["dims"], raw


def test_tenant_configs_get_their_verdicts():
    """Python's check refuses a subset of what the job refuses (the job also knows its own settings)."""
    corpus = golden("tenant_configs.json")
    assert len(corpus["cases"]) > 30
    for case in corpus["cases"]:
        value = case["value"]
        try:
            config = {} if value is None else json.loads(value)
            if not isinstance(config, dict):
                raise ValueError("not a JSON object")
            check(config)
            verdict = True
        except ValueError:
            verdict = False
        assert verdict == case["python"], value
        assert verdict or case["described"] is None, value
