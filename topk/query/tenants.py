"""Set, show and delete a tenant's live parameters (``topk.tenant_config``) on the config topic.

    python -m topk.query.tenants set --tenant acme --k 5 --dimensions region --windows 1m,1h [--at ISO|ms]
    python -m topk.query.tenants set --tenant acme --alert-phi 0.05 [--alert-items "a,b"]
    python -m topk.query.tenants show [--tenant acme]
    python -m topk.query.tenants delete --tenant acme

``set`` writes the whole config (fields not given: the job's settings), checked first; the job
applies it from its next finest window boundary after ``--at`` (default: now) and dead-letters it
(``bad_config``) if it breaks a rule only the job can check (a dimension or window it does not have).
``show`` prints each tenant's latest record as the topic holds it (a value that is not JSON as its text:
the job dead-letters it and keeps the tenant's last good config).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any

from topk.settings import add_settings, settings_of
from topk.stores.config_topic import ensure_config_topic, read_all, write
from topk.stores.kafka_client import KafkaSettings
from topk.tenant_config import NUMBERS, encode
from topk.times import parse_time_ms

FLAGS = {
    "k": "k",
    "capacity": "capacity",
    "cms-width": "cmsWidth",
    "cms-depth": "cmsDepth",
    "max-weight": "maxWeight",
    "quota": "quota",
}


def config_of(args: argparse.Namespace) -> dict[str, Any]:
    """The config ``set``'s flags give (fields left out: not given)."""
    config: dict[str, Any] = {field: getattr(args, flag.replace("-", "_")) for flag, field in FLAGS.items()}
    for name, field in (("dimensions", "dimensions"), ("windows", "windows"), ("alert_items", "alertItems")):
        text = getattr(args, name)
        config[field] = None if text is None else [n for n in text.split(",") if n]
    config["alertPhi"] = args.alert_phi
    return {k: v for k, v in config.items() if v is not None}


def latest(records: Iterable[tuple[bytes | None, bytes | None, int]]) -> dict[str, Any]:
    """Each tenant's latest record of ``records`` (the topic's, in order): its config, None when deleted, or
    the value's text when it is not JSON. Records without a key are no tenant's."""
    found: dict[str, Any] = {}
    for key, value, _ts in records:
        if key is None:
            continue
        text = None if value is None else value.decode(errors="replace")
        try:
            found[key.decode(errors="replace")] = None if text is None else json.loads(text)
        except json.JSONDecodeError:
            found[key.decode(errors="replace")] = text
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_settings(p, KafkaSettings, only=("bootstrap_servers", "kafka_properties", "config_topic"))
    p.add_argument("command", choices=("set", "show", "delete"))
    p.add_argument("--tenant", help="the tenant id (show: all tenants when left out)")
    for flag in FLAGS:
        p.add_argument(f"--{flag}", type=int, help=f"{FLAGS[flag]} (an integer >= {NUMBERS[FLAGS[flag]]})")
    p.add_argument("--dimensions", help="comma-separated, of the job's --dimensions ('' for none: only all/all)")
    p.add_argument("--windows", help="comma-separated, of the job's --windows")
    p.add_argument("--alert-phi", type=float, help="alert on items certainly above this share of a window (0: none)")
    p.add_argument("--alert-items", help="comma-separated: only these items alert")
    p.add_argument("--at", type=parse_time_ms, help="when the change takes effect (epoch ms or ISO-8601; default now)")
    args = p.parse_args(argv)
    kafka = settings_of(KafkaSettings, args, p)
    if args.command != "show" and not args.tenant:
        p.error(f"{args.command} needs --tenant")
    try:
        record = None if args.command == "show" else encode(args.tenant, config_of(args))  # checked first
        ensure_config_topic(kafka)  # as the job makes it: a broker might make it on first read, with more partitions
        if record is None:
            configs = latest(read_all(kafka))
            shown = {t: c for t, c in configs.items() if args.tenant in (None, t)}
            print(json.dumps(shown, indent=2, sort_keys=True))
            return 0 if shown or not args.tenant else 1
        key, value = record
        write(kafka, [(key, value if args.command == "set" else None, args.at)])
    except ValueError as err:
        p.error(str(err))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
