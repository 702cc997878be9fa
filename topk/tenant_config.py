"""A tenant's parameters, live: one JSON record per tenant on a compacted Kafka topic (the job's
``--config-topic``, default ``topk-config``), keyed by the tenant id. Written and shown with
``python -m topk.query.tenants``; read by the job as broadcast state (``udfs/jvm/.../TenantGate.java``,
which applies the same rules and dead-letters a record that breaks them, reason ``bad_config``,
leaving the tenant's parameters as they were)::

    key: acme    value: {"k": 5, "capacity": 256, "dimensions": ["region"], "windows": ["1m", "1h"], "quota": 500}

Every field may be left out; then the job's setting holds:

    k           results kept per window (1 to capacity)
    capacity    Space-Saving counters per window (k to 65536)
    cmsWidth    Count-Min cells per row: the job's --cms-width times or divided by a power of two (so any
                two of a tenant's widths merge: ``topk.sketches.count_min``)
    cmsDepth    Count-Min rows (1 to 16)
    dimensions  the dimensions counted, of the job's --dimensions ([]: only all/all)
    windows     the windows stored, of the job's --windows (at least one)
    maxWeight   larger weights are dead-lettered bad_weight (1 to the job's --max-weight)
    quota       events per event-time second; the rest are dead-lettered over_quota (none when left out)
    alertPhi    alert on items certainly above this share of a window's events (``topk.alerts``; from
                0.001 to below 1; 0: none; the job's --alert-phi when left out)
    alertItems  the only items that alert (1 to 100, each at most 1024 characters; all when left out)

A record takes effect from the first finest window that starts at or after its Kafka timestamp
(the time it was set, or ``--at``), for every event of that tenant from then on: a finest window
is always counted with one version, every replay of the same topics picks the same versions, and
each stored window's meta holds the parameters it was made with (``params``). A coarser window
takes those of its last finest window. A record with no value (``delete``) brings back the job's
settings. The topic is compacted: a tenant's older versions are gone from it once compacted, so a
replay from scratch applies only the latest from its timestamp on; a running job keeps its versions
in its state, and so do its savepoints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from topk.alerts import MAX_WATCHED, MIN_PHI
from topk.events import check_tenant

MAX_CAPACITY = 1 << 16
MAX_WIDTH = 1 << 22
MAX_DEPTH = 16
MAX_CELLS = 1 << 20  # Count-Min counters a summary may hold: 8 MiB as the operator's int64 table
MAX_WATCHED_LENGTH = 1024
NUMBERS = {"k": 1, "capacity": 1, "cmsWidth": 1, "cmsDepth": 1, "maxWeight": 1, "quota": 1}  # field -> least
LISTS = ("dimensions", "windows", "alertItems")
FIELDS = (*NUMBERS, *LISTS, "alertPhi")


def check(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` if it is a valid record value as far as can be told without the job's settings
    (which the job checks on top: dimensions and windows it has, cmsWidth against its own, maxWeight at
    most its own, k at most the capacity in force); else ``ValueError`` saying why."""
    unknown = sorted(set(config) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    for name, least in NUMBERS.items():
        value = config.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise ValueError(f"{name} must be an integer >= {least}")
    limits = {"capacity": MAX_CAPACITY, "cmsWidth": MAX_WIDTH, "cmsDepth": MAX_DEPTH}
    for name, most in limits.items():
        if config.get(name, 0) > most:
            raise ValueError(f"{name} is at most {most}")
    if config.get("cmsWidth", 0) * config.get("cmsDepth", 0) > MAX_CELLS:  # one alone: the job checks with its own
        raise ValueError(f"cmsWidth x cmsDepth is at most {MAX_CELLS} counters")
    if "k" in config and "capacity" in config and config["k"] > config["capacity"]:
        raise ValueError(f"k {config['k']} > capacity {config['capacity']}")
    for name in LISTS:
        names = config.get(name)
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise ValueError(f"{name} must be a list of names")
    if config.get("windows") == []:
        raise ValueError("windows is empty")
    phi = config.get("alertPhi")
    if phi is not None and (isinstance(phi, bool) or not isinstance(phi, int | float) or not is_phi(phi)):
        raise ValueError(f"alertPhi must be 0 or a number from {MIN_PHI} to below 1")
    watched = config.get("alertItems")
    if watched is not None and (
        not 0 < len(watched) <= MAX_WATCHED or not all(0 < len(x) <= MAX_WATCHED_LENGTH for x in watched)
    ):
        raise ValueError(f"alertItems holds 1 to {MAX_WATCHED} items of 1 to {MAX_WATCHED_LENGTH} characters")
    return dict(config)


def is_phi(phi: float) -> bool:
    """Whether ``phi`` is an alert share: 0 (none), or from ``MIN_PHI`` to below 1."""
    return phi == 0 or MIN_PHI <= phi < 1


def encode(tenant: str, config: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """The record (key, value) that sets ``tenant``'s parameters to ``config``."""
    return check_tenant(tenant).encode(), json.dumps(check(config), separators=(",", ":")).encode()


class Params:
    """The parameters a stored window was made with: a version the job describes (every field filled
    in, plus ``effective``, the epoch ms it holds from), or the job's own (``described`` empty)."""

    def __init__(self, described: str | None, k: int, alert_phi: float = 0.0) -> None:
        self.described = described or ""
        fields = json.loads(described) if described else {}
        self.effective: int = fields.get("effective", 0)
        self.k: int = fields.get("k", k)
        self.windows: frozenset[str] | None = frozenset(fields["windows"]) if "windows" in fields else None
        self.alert_phi: float = fields.get("alertPhi", alert_phi)
        self.watched: frozenset[str] | None = frozenset(fields["alertItems"]) if "alertItems" in fields else None

    def stores(self, window_label: str) -> bool:
        return self.windows is None or window_label in self.windows
