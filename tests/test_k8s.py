"""The Kubernetes manifests (docker/k8s/flinkdeployments.yaml) are jobs.k8s's rendering of the settings
the standalone cluster and the containers run, every field one the Apache Flink Kubernetes Operator's
FlinkDeployment CRD knows (its spec schema, vendored in tests/k8s), and an operator's restore is the
job's resume."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from jobs.flink_conf import load
from jobs.k8s import OPERATOR_SET, RESUME, rendered
from jobs.settings import parse_args
from jobs.start import Start, plan

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "tests" / "k8s" / "flinkdeployment-spec.schema.json").read_text())


def committed() -> list[dict]:
    return list(yaml.safe_load_all((ROOT / "docker" / "k8s" / "flinkdeployments.yaml").read_text()))


def unknown_fields(doc: object, schema: dict, path: str = "spec") -> list[str]:
    """Keys of ``doc`` its schema does not name (the CRD's schema allows them silently)."""
    if not isinstance(doc, dict) or schema.get("x-kubernetes-preserve-unknown-fields") or "properties" not in schema:
        return []
    out = [f"{path}.{k}" for k in doc if k not in schema["properties"]]
    return out + [
        x
        for k, v in doc.items()
        if k in schema["properties"]
        for x in unknown_fields(v, schema["properties"][k], f"{path}.{k}")
    ]


def test_the_committed_manifests_are_the_rendered_ones():
    assert (ROOT / "docker" / "k8s" / "flinkdeployments.yaml").read_text() == rendered(), (
        "run: python -m jobs.k8s > docker/k8s/flinkdeployments.yaml"
    )


def test_every_field_is_the_operators_and_the_settings_agree_with_the_clusters():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    conf = load((ROOT / "conf" / "flink-conf.yaml").read_text())
    docs = committed()
    assert {d["metadata"]["name"] for d in docs} == {"topk", "topk-archive"}
    for doc, service in zip(docs, ("job", "archive-job"), strict=True):
        spec = doc["spec"]
        assert (doc["apiVersion"], doc["kind"]) == ("flink.apache.org/v1beta1", "FlinkDeployment")
        jsonschema.validate(spec, SCHEMA)
        assert unknown_fields(spec, SCHEMA) == []
        assert spec["image"] == compose["x-flink"]["image"] and spec["flinkVersion"] == "v2_3"
        for key, value in conf.items():  # the standalone cluster's settings, as the operator's strings
            if key not in OPERATOR_SET and "${" not in str(value):
                assert spec["flinkConfiguration"][key] == (
                    str(value).lower() if isinstance(value, bool) else str(value)
                )
        assert not set(OPERATOR_SET) & set(spec["flinkConfiguration"])
        command = compose["services"][service]["command"]
        assert spec["job"]["args"] == [a for a in command[command.index("-py") :] if not a.startswith(RESUME)]
        assert spec["job"]["upgradeMode"] == "savepoint"
        env = {e["name"]: e for e in spec["podTemplate"]["spec"]["containers"][0]["env"]}
        assert "value" not in env["AWS_SECRET_ACCESS_KEY"] and env["TOPK_REDIS_PASSWORD_FILE"]["value"].startswith(
            "/run/topk-secrets/"
        )


def test_a_start_the_operator_restores_is_a_resume(tmp_path, monkeypatch):
    (tmp_path / "config.yaml").write_text("execution.state-recovery.path: s3://topk-checkpoints/savepoints/sp-1\n")
    monkeypatch.setenv("FLINK_CONF_DIR", str(tmp_path))
    settings = parse_args(["--checkpoint-dir", "s3://topk-checkpoints/checkpoints"])
    refused = pytest.fail  # no results nor offsets are looked at: a restore overwrites nothing
    start = plan(settings, "topk:events:topk", refused, "")
    assert start == Start(
        f"s3://topk-checkpoints/checkpoints/{settings.source.group_id}", "s3://topk-checkpoints/savepoints/sp-1"
    )
