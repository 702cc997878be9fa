"""The jobs on Kubernetes: one ``FlinkDeployment`` each (the Apache Flink Kubernetes Operator,
application mode) for the top-K job and the archive job, rendered from what the standalone cluster and
the containers run, so they cannot drift: ``conf/flink-conf.yaml`` as ``flinkConfiguration`` (less the
addresses, which the operator sets), and the image, Flink version, environment and job flags of
``docker/compose.yaml``'s services. ``tests/test_k8s.py`` checks the committed file is this output and
every field against the operator's CRD.

    python -m jobs.k8s > docker/k8s/flinkdeployments.yaml

Secrets are never in it: a Secret ``topk-secrets``, made by whoever runs the cluster, holds the files
``docker/init_secrets.py`` makes (``redis_password``, ``cassandra_password``) and ``aws_access_key_id``,
``aws_secret_access_key`` (S3 for checkpoints, savepoints and the archive); the pods mount it at
``/run/topk-secrets`` and read the S3 keys into their environment. The stores' host names are the
containers' (``kafka``, ``redis``, ``cassandra``, ``s3``): Services of those names, or edit the flags.

Upgrades take a savepoint (``upgradeMode: savepoint``) and the operator starts the new job from it
(``execution.state-recovery.path``, which ``jobs/start.py`` takes as the job's restore), so the job's
own ``--resume-from latest`` of the containers is left out.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from jobs.flink_conf import load, render

ROOT = Path(__file__).resolve().parent.parent
IMAGE_ROOT, IMAGE_PYTHON = "/opt/topk", "/opt/venv/bin/python"  # docker/Dockerfile
SECRETS = "/run/topk-secrets"
# set by the operator for its pods and services: the local cluster's loopback addresses would break them
OPERATOR_SET = (
    "jobmanager.rpc.address",
    "jobmanager.bind-host",
    "taskmanager.host",
    "taskmanager.bind-host",
    "rest.address",
    "rest.bind-address",
)
JOBS = {"topk": "job", "topk-archive": "archive-job"}  # FlinkDeployment name -> compose service
RESUME = "--resume-from="


def flink_configuration(conf_text: str, s3_endpoint: str) -> dict[str, str]:
    values = {"TOPK_ROOT": IMAGE_ROOT, "TOPK_PYTHON": IMAGE_PYTHON, "TOPK_S3_ENDPOINT": s3_endpoint}
    settings = load(render(conf_text, values))
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items() if k not in OPERATOR_SET}


def job_args(command: list[str]) -> list[str]:
    """The compose service's ``flink run -py FILE FLAGS...`` as the PythonDriver's arguments."""
    start = command.index("-py")
    return [a for a in command[start:] if not a.startswith(RESUME)]


def flag(args: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in args if a.startswith(f"--{name}="))


def pod_template(environment: dict[str, str]) -> dict:
    env = [{"name": k, "value": str(v)} for k, v in environment.items() if k != "FLINK_PROPERTIES"]
    env += [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": "topk-secrets", "key": name.lower()}}}
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {
            "containers": [
                {
                    "name": "flink-main-container",  # the operator's name for Flink's own container
                    "env": env,
                    "volumeMounts": [{"name": "topk-secrets", "mountPath": SECRETS, "readOnly": True}],
                }
            ],
            "volumes": [{"name": "topk-secrets", "secret": {"secretName": "topk-secrets"}}],
        },
    }


def deployments(compose: dict, conf_text: str) -> list[dict]:
    flink = compose["x-flink"]
    version = flink["build"]["args"]["FLINK_VERSION"]
    out = []
    for name, service in JOBS.items():
        args = job_args(compose["services"][service]["command"])
        conf = flink_configuration(conf_text, flag(args, "s3-endpoint-url"))
        resource = {"cpu": 1}
        out.append(
            {
                "apiVersion": "flink.apache.org/v1beta1",
                "kind": "FlinkDeployment",
                "metadata": {"name": name},
                "spec": {
                    "image": flink["image"],
                    "flinkVersion": "v" + "_".join(version.split(".")[:2]),
                    "flinkConfiguration": conf,
                    "serviceAccount": "flink",
                    "podTemplate": pod_template(flink["environment"]),
                    "jobManager": {"resource": {**resource, "memory": conf["jobmanager.memory.process.size"]}},
                    "taskManager": {"resource": {**resource, "memory": conf["taskmanager.memory.process.size"]}},
                    "job": {
                        "jarURI": f"local:///opt/flink/opt/flink-python-{version}.jar",
                        "entryClass": "org.apache.flink.client.python.PythonDriver",
                        "args": args,
                        "parallelism": int(conf["parallelism.default"]),
                        "upgradeMode": "savepoint",
                        "state": "running",
                    },
                },
            }
        )
    return out


def rendered() -> str:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    docs = deployments(compose, (ROOT / "conf" / "flink-conf.yaml").read_text())
    head = "# Rendered by python -m jobs.k8s from conf/flink-conf.yaml and docker/compose.yaml: edit those.\n"
    return head + yaml.safe_dump_all(docs, sort_keys=False, width=1 << 16)


if __name__ == "__main__":
    sys.stdout.write(rendered())
