"""Settings, each defined once. A concern (Kafka, windows, sketch, Redis, ...) is a frozen dataclass
whose fields are made with ``setting``: the default, the flag, its help and how its text is read sit
on the field. Entry points build their command lines from the concerns they use (``add_settings``)
and the concerns from the parsed flags (``settings_of``, which runs the concern's ``validate``).

The concerns with no store in them are here (events, windows, sketch); each store's is next to its
client in ``connectors``, the job's run settings in ``jobs.settings``, the API's in ``topk.query.api``.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Iterable
from dataclasses import Field, dataclass, field, fields
from functools import cached_property
from typing import Any, TypeVar

from topk.events import check_dimension
from topk.tenant_config import MAX_CELLS, is_phi
from topk.windows import WindowSpec, by_size, parse_windows, split_csv

T = TypeVar("T")


def setting(default: Any, help: str = "", *, flag: str = "", parse: Callable[[str], Any] | None = None) -> Any:
    """A dataclass field that is also a flag: ``--<FLAG_PREFIX><name>`` (dashes for underscores)
    unless ``flag`` names it. ``parse`` reads the flag's text (default: the default's type; a bool
    is a switch)."""
    return field(default=default, metadata={"help": help, "flag": flag, "parse": parse})


def add_settings(parser: argparse.ArgumentParser, concern: type, *, only: Iterable[str] = (), **defaults: Any) -> None:
    """``concern``'s flags as an argument group (``only``: these fields; ``defaults``: other defaults)."""
    group = parser.add_argument_group(_title(concern))
    for f in _fields(concern, only):
        default = defaults.get(f.name, f.default)
        flag, text = _flag(concern, f), f.metadata["help"]
        if isinstance(f.default, bool):
            group.add_argument(flag, default=default, help=text, action=argparse.BooleanOptionalAction)
            continue
        parse = f.metadata["parse"] or (type(f.default) if f.default is not None else str)
        group.add_argument(flag, default=default, type=parse, help=text, metavar=f.name.upper())


def settings_of(concern: type[T], args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> T:
    """The concern the parsed flags describe, validated: ``ValueError`` says what is wrong (with
    ``parser``: it exits as argparse does, with the usage and the reason). Fields whose flag was not
    added keep their defaults."""
    given = {f.name: getattr(args, _dest(concern, f)) for f in fields(concern) if hasattr(args, _dest(concern, f))}
    try:
        made = concern(**given)
        return made.validate() if hasattr(made, "validate") else made
    except ValueError as err:
        if parser is None:
            raise
        parser.error(str(err))


def _fields(concern: type, only: Iterable[str]) -> list[Field]:
    wanted = set(only)
    chosen = [f for f in fields(concern) if not wanted or f.name in wanted]
    unknown = wanted - {f.name for f in chosen}
    if unknown:
        raise TypeError(f"{concern.__name__} has no settings {sorted(unknown)}")
    return chosen


def _flag(concern: type, f: Field) -> str:
    return f.metadata["flag"] or "--" + getattr(concern, "FLAG_PREFIX", "") + f.name.replace("_", "-")


def _dest(concern: type, f: Field) -> str:
    return _flag(concern, f).lstrip("-").replace("-", "_")


def _title(concern: type) -> str:
    return (concern.__doc__ or concern.__name__).strip().split("\n")[0].rstrip(".")


@dataclass(frozen=True)
class EventSettings:
    """Events: what is counted and what is refused (the job's and the API's limits)."""

    dimensions: tuple[str, ...] = setting(
        ("region", "category", "eventType", "region+eventType"),
        "to group by, besides 'all': payload fields, eventType (the event's type), combinations joined by '+'",
        parse=split_csv,
    )
    max_item_length: int = setting(1024, "longer items are dead-lettered (item_too_long)")
    max_weight: int = setting(1_000_000, "larger weights are dead-lettered (bad_weight)")
    max_past_ms: int = setting(7 * 86_400_000, "event time behind the Kafka timestamp")
    max_future_ms: int = setting(60_000, "event time ahead of the Kafka timestamp (further: too_far_ahead)")
    max_values: int = setting(
        1_000, "distinct values of a dimension per tenant and finest window; the rest are counted under (other)"
    )

    def validate(self) -> EventSettings:
        for name in self.dimensions:
            check_dimension(name)
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError("a dimension is named twice")
        if min(self.max_item_length, self.max_weight, self.max_values) < 1:
            raise ValueError("the item length, weight and values limits must be >= 1")
        if min(self.max_past_ms, self.max_future_ms) < 0:
            raise ValueError("the time limits must be >= 0")
        return self


@dataclass(frozen=True)
class WindowSettings:
    """Windows: their sizes, how long they are kept, how late an event may still update one."""

    windows: str = setting("1m,1h,1d,all", "comma-separated tumbling window sizes and/or all")
    retention: str = setting(
        "",
        "how long stored windows are kept after they end, per size: e.g. 1m=2d,1h=90d,1d=forever "
        "(default: under an hour 2d, under a day 90d, else forever); the query side takes the same flag",
    )
    allowed_lateness_ms: int = setting(
        0, "events behind the watermark by up to this much update their (re-emitted) windows; later: dead letter"
    )

    @cached_property
    def specs(self) -> tuple[WindowSpec, ...]:
        return parse_windows(self.windows, self.retention)

    @property
    def base(self) -> WindowSpec:
        """The finest window: events are summarized at this size in the JVM."""
        return by_size(self.specs)[0]

    def validate(self) -> WindowSettings:
        sized = by_size(self.specs)
        if not sized:
            raise ValueError("at least one sized window (e.g. 1m) is required")
        if len({w.label for w in self.specs}) != len(self.specs):
            raise ValueError("window sizes must be distinct")
        for finer, w in itertools.pairwise(sized):  # each window is folded from the next finer one
            if w.size_ms % finer.size_ms:
                raise ValueError(f"window {w.label} is not a multiple of the next finer window {finer.label}")
        if self.allowed_lateness_ms < 0:
            raise ValueError("allowed lateness must be >= 0")
        return self


@dataclass(frozen=True)
class SketchSettings:
    """Sketch: how many items are reported and how many are tracked."""

    k: int = setting(100, "items per stored top-K")
    capacity: int = setting(1024, "Space-Saving counters per window (>= k); the API serves k up to this")
    cms_width: int = setting(2048, "Count-Min cells per row")
    cms_depth: int = setting(5, "Count-Min rows")
    alert_phi: float = setting(
        0.0,
        "alert when an item is certainly above this share of a window's events (topk.alerts; 0.001 to below "
        "1); 0: none, except for tenants that set alertPhi",
    )

    def validate(self) -> SketchSettings:
        if not 1 <= self.k <= self.capacity:
            raise ValueError(f"need 1 <= k <= capacity, got k={self.k}, capacity={self.capacity}")
        if self.cms_width < 1 or self.cms_depth < 1:
            raise ValueError("Count-Min width and depth must be >= 1")
        if self.cms_width * self.cms_depth > MAX_CELLS:  # as for a tenant's (topk.tenant_config)
            raise ValueError(f"--cms-width x --cms-depth is at most {MAX_CELLS} counters")
        if not is_phi(self.alert_phi):
            raise ValueError("--alert-phi must be 0 or from 0.001 to below 1")
        return self
