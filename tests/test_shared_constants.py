"""Constants the JVM functions and the Python modules both hold must agree: each read from the Java
source as written there and compared with Python's (one rule, two languages)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from topk import alerts, events, tenant_config
from topk.sketches import count_min, heavy_hitters, space_saving
from udfs import topk_window

JAVA = Path(__file__).resolve().parents[1] / "udfs" / "jvm" / "topk" / "udfs"


def java_constant(cls: str, name: str) -> object:
    """A ``static final`` int, long, double or String literal (``1 << 16``, ``0x70704B``, ``253_370_764_800_000L``,
    ``"x"``) or Pattern of ``cls``'s source."""
    source = (JAVA / f"{cls}.java").read_text()
    match = re.search(rf"static final \w+(?:<[^>]*>)? {name} = (.+?);", source, re.DOTALL)
    assert match, f"{cls}.{name} not found"
    text = match.group(1).strip()
    if pattern := re.fullmatch(r'Pattern\.compile\("(.*)"\)', text):
        return pattern.group(1).replace("\\\\", "\\")
    if text.startswith('"'):
        return text.strip('"')
    if text.startswith("Map.of("):
        words = re.findall(r'"([^"]*)"', text)
        return dict(zip(words[::2], words[1::2], strict=True))
    if re.fullmatch(r"[0-9]+\.[0-9]+", text):
        return float(text)
    number = text.replace("_", "").rstrip("L")
    if re.fullmatch(r"0x[0-9A-Fa-f]+", number):
        return int(number, 16)
    assert re.fullmatch(r"[0-9]+( << [0-9]+)?", number), text
    base, _, shift = number.partition(" << ")
    return int(base) << int(shift or 0)


@pytest.mark.parametrize(
    ("cls", "name", "python"),
    [
        ("ParseEvent", "ITEM_FIELDS", events.ITEM_FIELDS),
        ("ParseEvent", "MIN_EVENT_MS", events.EVENT_TIME_RANGE_MS[0]),
        ("ParseEvent", "MAX_EVENT_MS", events.EVENT_TIME_RANGE_MS[1]),
        ("ParseEvent", "EVENT_TYPE", events.EVENT_TYPE),
        ("ParseEvent", "MAX_VALUE_LENGTH", events.MAX_VALUE_LENGTH),
        ("ParseEvent", "DEFAULT_TENANT", events.DEFAULT_TENANT),
        ("TenantConfig", "MAX_CAPACITY", tenant_config.MAX_CAPACITY),
        ("TenantConfig", "MAX_WIDTH", tenant_config.MAX_WIDTH),
        ("TenantConfig", "MAX_DEPTH", tenant_config.MAX_DEPTH),
        ("TenantConfig", "MAX_WATCHED", alerts.MAX_WATCHED),
        ("TenantConfig", "MAX_WATCHED_LENGTH", tenant_config.MAX_WATCHED_LENGTH),
        ("TenantConfig", "MIN_ALERT_PHI", alerts.MIN_PHI),
        ("TenantGate", "KEPT_VERSIONS", topk_window.KEPT_VERSIONS),
        ("SummaryFormat", "HEAVY_HITTERS_VERSION", heavy_hitters.FORMAT_VERSION),
        ("SummaryFormat", "SPACE_SAVING_VERSION", space_saving.FORMAT_VERSION),
        ("SummaryFormat", "COUNT_MIN_VERSION", count_min.FORMAT_VERSION),
        ("SummaryFormat", "HEAVY_HITTERS_HEADER", heavy_hitters._HEADER.size),
        ("SummaryFormat", "SPACE_SAVING_HEADER", space_saving._HEADER.size + space_saving._TYPES_V2.size),
        ("SummaryFormat", "COUNT_MIN_HEADER", count_min._HEADER.size + count_min._LAYOUT.size),
        ("SummaryFormat", "SEPARATED", space_saving._SEPARATED),
        ("ItemSummary", "SEED", count_min.DEFAULT_SEED),
    ],
)
def test_java_and_python_hold_the_same_constant(cls, name, python):
    assert java_constant(cls, name) == python


def test_tenant_ids_follow_one_rule():
    java = re.compile(java_constant("ParseEvent", "TENANT"))
    for tenant in ["default", "acme", "a", "A.b-c_d", "x" * 64, "x" * 65, "-a", ".a", "a/b", "a b", "é", "", "_a"]:
        assert bool(java.fullmatch(tenant)) == events.is_tenant(tenant), tenant
