"""The committed Grafana dashboard is topk.dashboard's output, over the datasource the containers'
Grafana provisions (its metrics against a live scrape: tests/integration/test_cluster.py)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from topk.dashboard import DATASOURCE, to_json

GRAFANA = Path(__file__).resolve().parents[1] / "docker" / "grafana"


def test_the_committed_dashboard_is_the_generated_one():
    committed = (GRAFANA / "dashboards" / "topk.json").read_text()
    assert committed == to_json(), "run: python -m topk.dashboard > docker/grafana/dashboards/topk.json"


def test_every_panel_reads_the_provisioned_prometheus():
    (source,) = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    panels = json.loads(to_json())["panels"]
    assert panels and {json.dumps(p["datasource"], sort_keys=True) for p in panels} == {
        json.dumps(DATASOURCE, sort_keys=True)
    }
    assert (source["uid"], source["type"]) == (DATASOURCE["uid"], DATASOURCE["type"])
    assert all(t["expr"] for p in panels for t in p["targets"])
