"""The Grafana dashboard of the pipeline and the API, built with grafanalib: the committed JSON
(``docker/grafana/dashboards/topk.json``, which the containers' Grafana provisions) is this module's
output, and the suite checks both that it is and that every metric a panel reads is one a live scrape
of the cluster and the API exports (``tests/integration/test_cluster.py``).

    python -m topk.dashboard > docker/grafana/dashboards/topk.json
"""

from __future__ import annotations

import json

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard, GridPos, Target, TimeSeries

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # docker/grafana/provisioning/datasources
OPERATOR = "flink_taskmanager_job_task_operator_"
JOB = "flink_jobmanager_job_"

PANELS = (  # title, unit, (PromQL, legend) ...
    ("Events counted", "ops", (f"sum by (job_name) (rate({OPERATOR}topk_eventsCounted[1m]))", "{{job_name}}")),
    ("Records dead-lettered", "ops", (f"sum by (job_name) (rate({OPERATOR}deadLetters_records[1m]))", "{{job_name}}")),
    (
        "Kafka backlog (records not yet read)",
        "short",
        (f"sum by (job_name) ({OPERATOR}KafkaSourceReader_KafkaConsumer_records_lag_max)", "{{job_name}}"),
    ),
    ("Window emit lag", "ms", (f"max by (job_name) ({OPERATOR}topk_windowEmitLagMs)", "{{job_name}}")),
    ("Windows written", "ops", (f"sum by (job_name) (rate({OPERATOR}topk_windowsEmitted[5m]))", "{{job_name}}")),
    (
        "Sketch operator time per row",
        "µs",
        (
            f"sum by (job_name) (rate({OPERATOR}topk_sketchUpdateMicros[5m])) "
            f"/ sum by (job_name) (rate({OPERATOR}topk_sketchUpdates[5m]))",
            "{{job_name}}",
        ),
    ),
    (
        "Running jobs and restarts",
        "short",
        ("flink_jobmanager_numRunningJobs", "running"),
        (f"max by (job_name) ({JOB}numRestarts)", "restarts {{job_name}}"),
    ),
    (
        "Checkpoints",
        "ms",
        (f"max by (job_name) ({JOB}lastCheckpointDuration)", "duration {{job_name}}"),
        (f"max by (job_name) (increase({JOB}numberOfFailedCheckpoints[15m]))", "failed in 15 min {{job_name}}"),
    ),
    ("API requests by status", "reqps", ("sum by (status) (rate(topk_api_requests_total[5m]))", "{{status}}")),
    (
        "API latency p99",
        "s",
        ("histogram_quantile(0.99, sum by (le) (rate(topk_api_latency_seconds_bucket[5m])))", "p99"),
    ),
)


def dashboard() -> Dashboard:
    panels = [
        TimeSeries(
            title=title,
            unit=unit,
            dataSource=DATASOURCE,
            gridPos=GridPos(h=8, w=12, x=12 * (n % 2), y=8 * (n // 2)),
            targets=[Target(expr=e, legendFormat=legend, refId=chr(65 + i)) for i, (e, legend) in enumerate(queries)],
        )
        for n, (title, unit, *queries) in enumerate(PANELS)
    ]
    return Dashboard(
        title="Top-K heavy hitters", uid="topk", tags=["topk"], panels=panels, refresh="30s"
    ).auto_panel_ids()


def to_json() -> str:
    return json.dumps(dashboard().to_json_data(), cls=DashboardEncoder, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(to_json(), end="")
