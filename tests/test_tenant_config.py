"""A tenant's config record as the CLI checks and writes it, and the parameters a window is emitted
with (``topk.tenant_config``). The job's own checks (TenantGate.java) run in
tests/integration/test_cluster.py, on records the CLI lets through."""

from __future__ import annotations

import json

import pytest

from topk.query.tenants import config_of, latest, main
from topk.stores.config_topic import write
from topk.stores.kafka_client import KafkaSettings
from topk.tenant_config import Params, check, encode


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ({"K": 5}, "unknown field 'K'"),
        ({"k": 0}, "k must be an integer >= 1"),
        ({"k": 2.5}, "k must be an integer >= 1"),
        ({"k": True}, "k must be an integer >= 1"),
        ({"quota": "10"}, "quota must be an integer >= 1"),
        ({"k": 50, "capacity": 10}, "k 50 > capacity 10"),
        ({"capacity": 1 << 17}, "capacity is at most 65536"),
        ({"cmsDepth": 17}, "cmsDepth is at most 16"),
        ({"cmsWidth": (1 << 22) + 1}, "cmsWidth is at most 4194304"),
        ({"cmsWidth": 1 << 18, "cmsDepth": 5}, "cmsWidth x cmsDepth is at most 1048576 counters"),
        ({"dimensions": "region"}, "dimensions must be a list of names"),
        ({"windows": [1]}, "windows must be a list of names"),
        ({"windows": []}, "windows is empty"),
        ({"alertPhi": 0.0001}, "alertPhi must be 0 or a number from 0.001 to below 1"),
        ({"alertPhi": 1}, "alertPhi must be 0 or"),
        ({"alertPhi": "0.1"}, "alertPhi must be 0 or"),
        ({"alertPhi": True}, "alertPhi must be 0 or"),
        ({"alertItems": "a"}, "alertItems must be a list of names"),
        ({"alertItems": ["x"] * 101}, "alertItems holds 1 to 100 items of 1 to 1024 characters"),
        ({"alertItems": []}, "alertItems holds 1 to 100"),
        ({"alertItems": [""]}, "alertItems holds 1 to 100"),
        ({"alertItems": ["x" * 1025]}, "alertItems holds 1 to 100"),
    ],
)
def test_a_bad_config_is_refused_with_the_reason(config, why):
    with pytest.raises(ValueError, match=why):
        check(config)


def test_a_config_record_is_keyed_by_its_tenant_and_holds_only_the_fields_given():
    key, value = encode("acme", {"k": 5, "dimensions": [], "windows": ["1m", "all"], "quota": 500})
    assert key == b"acme"
    assert json.loads(value) == {"k": 5, "dimensions": [], "windows": ["1m", "all"], "quota": 500}
    with pytest.raises(ValueError, match="bad tenant id"):
        encode("a/b", {})


def test_the_clis_flags_give_the_config():
    from argparse import Namespace

    given = {"k": 3, "capacity": None, "cms_width": 512, "cms_depth": None, "max_weight": None, "quota": None}
    args = Namespace(**given, dimensions="", windows="1m,1h", alert_phi=None, alert_items=None)
    assert config_of(args) == {"k": 3, "cmsWidth": 512, "dimensions": [], "windows": ["1m", "1h"]}
    alerting = Namespace(**(given | {"k": None}), dimensions=None, windows=None, alert_phi=0.05, alert_items="a,b")
    assert config_of(alerting) == {"cmsWidth": 512, "alertPhi": 0.05, "alertItems": ["a", "b"]}


def test_the_cli_refuses_a_bad_config_before_writing(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["set", "--tenant", "acme", "--k", "9", "--capacity", "4", "--bootstrap-servers", "127.0.0.1:1"])
    assert exit_.value.code == 2 and "k 9 > capacity 4" in capsys.readouterr().err


def test_a_window_takes_the_parameters_described_or_the_jobs():
    described = json.dumps({"effective": 60_000, "k": 3, "windows": ["1m", "all"], "capacity": 64})
    params = Params(described, k=10)
    assert (params.effective, params.k, params.described) == (60_000, 3, described)
    assert params.stores("1m") and params.stores("all") and not params.stores("1h")
    job = Params(None, k=10)
    assert (job.k, job.described) == (10, "") and job.stores("1h")
    assert (params.alert_phi, params.watched, Params(None, 10, 0.2).alert_phi) == (0.0, None, 0.2)
    alerting = Params(json.dumps({"effective": 0, "alertPhi": 0.05, "alertItems": ["a"]}), 10, 0.2)
    assert (alerting.alert_phi, alerting.watched) == (0.05, frozenset({"a"}))


def test_show_gives_each_tenants_latest_record_whatever_the_topic_holds():
    records = [
        (b"acme", b'{"k": 5}', 1),
        (b"beta", b'{"k": 3}', 2),
        (b"acme", b'{"k": 4', 3),  # not JSON: its text
        (None, b'{"k": 1}', 4),
        (b"beta", None, 5),
        (b"gamma", b"\xff", 6),  # no key; deleted; not UTF-8
    ]
    assert latest(records) == {"acme": '{"k": 4', "beta": None, "gamma": "\ufffd"}


def test_a_config_record_at_time_zero_is_refused_not_written_as_now():
    """librdkafka takes a timestamp of 0 for "now": a change meant for all of time would start now."""
    with pytest.raises(ValueError, match="after the epoch"):
        write(KafkaSettings(bootstrap_servers="127.0.0.1:1"), [(b"acme", b"{}", 0)])
