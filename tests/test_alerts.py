"""The alert rules (docker/alerts.yml): valid (``promtool check rules``), each firing on the series of
its unit test and not on the healthy ones beside them (``promtool test rules``), each with a runbook
section in docs/alerts.md, and loaded by the containers' Prometheus."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docker" / "alerts.yml"
UNIT_TESTS = ROOT / "tests" / "prometheus" / "alerts_test.yml"


def alert_names() -> list[str]:
    return [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_rules_are_valid_and_pass_their_unit_tests():
    for command in (["promtool", "check", "rules", str(RULES)], ["promtool", "test", "rules", UNIT_TESTS.name]):
        done = subprocess.run(command, cwd=UNIT_TESTS.parent, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_tested_firing_and_has_a_runbook():
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    fired = {t["alertname"] for case in tests for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    runbook = (ROOT / "docs" / "alerts.md").read_text()
    sections = {m.lower() for m in re.findall(r"^## (\w+)$", runbook, re.MULTILINE)}
    for name in alert_names():
        assert name in fired, f"{name}: no unit test sees it fire"
        assert name.lower() in sections, f"{name}: no runbook section in docs/alerts.md"


def test_the_containers_prometheus_loads_the_rules():
    config = yaml.safe_load((ROOT / "docker" / "prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert "./alerts.yml:/etc/prometheus/alerts.yml:ro" in compose["services"]["prometheus"]["volumes"]
