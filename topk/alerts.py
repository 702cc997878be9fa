"""Alerts on the data: an item that certainly passes a share φ of a window's events.

A tenant sets ``alertPhi`` (φ, from ``MIN_PHI`` to below 1) and optionally ``alertItems`` (at most
``MAX_WATCHED`` items: only those alert) in its parameters (``topk.tenant_config``); the job's
``--alert-phi`` holds for tenants that set none (0: no alerts). When a tumbling window (1m, 1h, 1d:
not all-time) of a (dimension, value) is emitted, every item whose *lower* bound passes φ·N (N: the
window's total weight) is a crossing: its true count is above φ·N whatever the sketch's error. So an
alert is never false, and no item whose true count passes φ·N plus the window's error bound is missed.

Each crossing is one record on the compacted alerts topic (``--alerts-topic``; none: no alerts),
written by the job with Kafka transactions committed at its checkpoints (read it with
``isolation.level=read_committed``): once per window and item, also across restarts from a checkpoint
or savepoint. A window emitted again (late events within allowed lateness) alerts only its new
crossings. A replay (``scripts/submit.sh replay``) raises none.

Record (format ``FORMAT_VERSION``)::

    key:   ["<tenant>","<window>",<window start ms>,"<dimension>","<value>","<item>"]   (compact JSON)
    value: {"v":1,"tenant":..,"window":"1m","windowStart":..,"windowEnd":..,"dimension":..,"value":..,
            "item":..,"lowerBound":..,"upperBound":..,"totalEvents":..,"phi":..}

Bounds: a window of a (dimension, value) has fewer than 1/φ crossings (their lower bounds add up to at
most N), so at most ``1 / MIN_PHI`` records per window and group.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction

from topk.sketches import HeavyHittersSketch
from topk.window_result import WindowResult
from topk.windows import ALL_TIME, window_id

FORMAT_VERSION = 1
MIN_PHI = 0.001
MAX_WATCHED = 100


@dataclass(frozen=True)
class Alert:
    tenant: str
    window: str
    window_start: int  # epoch ms, inclusive
    window_end: int  # epoch ms, exclusive
    dimension: str
    value: str
    item: str
    lower_bound: int  # > phi * total_events
    upper_bound: int
    total_events: int
    phi: float

    @property
    def key(self) -> bytes:
        fields = [self.tenant, self.window, self.window_start, self.dimension, self.value, self.item]
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()

    def as_json(self) -> dict:
        """The record's value, as the API answers it too."""
        names = {"window_start": "windowStart", "window_end": "windowEnd", "lower_bound": "lowerBound"}
        names |= {"upper_bound": "upperBound", "total_events": "totalEvents"}
        return {"v": FORMAT_VERSION, **{names.get(k, k): v for k, v in asdict(self).items()}}

    def encode(self) -> tuple[bytes, bytes]:
        """The record (key, value)."""
        return self.key, json.dumps(self.as_json(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(cls, key: bytes | None, value: bytes | None) -> Alert:
        """The alert a record holds; ``ValueError`` if it is not one of this format (or its key does not
        match its value)."""
        try:
            fields = json.loads(value or b"", parse_constant=_no_constant)
            if not isinstance(fields, dict) or fields.get("v") != FORMAT_VERSION:
                raise ValueError(f"not an alert of format {FORMAT_VERSION}")
            alert = cls(
                tenant=_text(fields, "tenant"),
                window=_text(fields, "window"),
                window_start=_whole(fields, "windowStart"),
                window_end=_whole(fields, "windowEnd"),
                dimension=_text(fields, "dimension"),
                value=_text(fields, "value"),
                item=_text(fields, "item"),
                lower_bound=_whole(fields, "lowerBound"),
                upper_bound=_whole(fields, "upperBound"),
                total_events=_whole(fields, "totalEvents"),
                phi=float(fields["phi"]),
            )
        except (KeyError, TypeError, OverflowError, RecursionError, UnicodeDecodeError) as err:
            raise ValueError(f"not an alert record: {type(err).__name__}") from None
        if key != alert.key:
            raise ValueError("the record's key is not its alert's")
        return alert


def _whole(fields: dict, name: str) -> int:
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} is not a whole number")
    return value


def _text(fields: dict, name: str) -> str:
    value = fields[name]
    if not isinstance(value, str):
        raise ValueError(f"{name} is not text")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is no count")


def threshold(phi: float, total: int) -> int:
    """The least count above ``phi * total``, with ``phi`` as written in decimal (0.29 of 100 is 29, not 28.99...)."""
    return math.floor(Fraction(repr(phi)) * total) + 1


def crossings(
    result: WindowResult,
    sketch: HeavyHittersSketch,
    phi: float,
    watched: frozenset[str] | None = None,
) -> Iterator[Alert]:
    """The alerts of ``result`` (summarized by ``sketch``): its items whose lower bound passes ``phi`` of its
    total, of ``watched`` only if given, highest lower bound first."""
    if not phi or result.window == ALL_TIME or result.total_events == 0:  # no alerts, all-time, or nothing counted
        return
    for found in sketch.certainly_reaching(threshold(phi, result.total_events)):
        if watched is None or found.item in watched:
            yield Alert(
                tenant=result.tenant,
                window=result.window,
                window_start=result.window_start,
                window_end=result.window_end,
                dimension=result.dimension,
                value=result.value,
                item=found.item,
                lower_bound=found.lower_bound,
                upper_bound=found.upper_bound,
                total_events=result.total_events,
                phi=phi,
            )


def take_new(alerted: dict[str, list[str]], found: Sequence[Alert], still_open: Callable[[str], bool]) -> list[Alert]:
    """The alerts of ``found`` whose item its window has not alerted yet; ``alerted`` (window id -> items
    alerted) gets them, and loses the windows that are no longer ``still_open`` to being emitted again."""
    new = [a for a in found if a.item not in alerted.get(window_id(a.window, a.window_start), ())]
    for a in new:
        alerted.setdefault(window_id(a.window, a.window_start), []).append(a.item)
    for w in [w for w in alerted if not still_open(w)]:
        del alerted[w]
    return new
