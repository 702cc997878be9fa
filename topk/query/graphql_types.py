"""The GraphQL API's types (``topk.query.graphql``): what its fields answer, in its own names; counts,
totals and milliseconds as ``Long`` (64-bit; GraphQL's ``Int`` is 32-bit)."""

from __future__ import annotations

import enum
from typing import NewType

import strawberry

from topk.query.engine import APPROXIMATE, EXACT


@strawberry.enum
class Mode(enum.Enum):
    APPROXIMATE = APPROXIMATE
    EXACT = EXACT


Long = NewType("Long", int)  # counts, totals and milliseconds: past GraphQL's 32-bit Int


def parse_long(value: object) -> int:
    """A ``Long`` argument: an integer (not a boolean, not a float) of 64 bits, else a GraphQL error."""
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise ValueError(f"Long: a 64-bit integer, not {str(value)[:32]!r}")
    return value


LONG = strawberry.scalar(
    name="Long",
    description="A 64-bit signed integer, as a JSON number (JavaScript reads it exactly up to 2^53)",
    serialize=int,
    parse_value=parse_long,
)


@strawberry.type
class RankedItem:
    rank: int
    item: str
    count: Long
    lower_bound: Long
    upper_bound: Long
    guaranteed: bool


@strawberry.type
class Freshness:
    """How fresh the tenant's results are: every event before ``counted_through`` is counted (but a
    late one still within the allowed lateness); they were last written at ``written_at``."""

    counted_through: str | None
    written_at: str | None


@strawberry.type
class TopK:
    """Ranked items with bounds on their true counts, and what the answer covers."""

    window: str | None
    dimension: str
    value: str
    start: str
    end: str
    total_events: Long
    error_bound: Long
    guaranteed: int
    accuracy: str
    windows_merged: int
    freshness: Freshness
    results: list[RankedItem]


@strawberry.type
class Frequent:
    """Every item whose count may reach ``threshold`` (φ of the range's events); ``complete``: none
    whose true count reaches it is missing."""

    start: str
    end: str
    total_events: Long
    threshold: Long
    complete: bool
    unlisted_bound: Long
    freshness: Freshness
    results: list[RankedItem]


@strawberry.type
class Change:
    """One item's change (its count less its mean per baseline range), with bounds on each side."""

    rank: int
    item: str
    change: float
    change_lower_bound: float
    change_upper_bound: float
    count: Long
    lower_bound: Long
    upper_bound: Long
    baseline: float
    baseline_lower_bound: float
    baseline_upper_bound: float
    guaranteed: bool


@strawberry.type
class Trending:
    direction: str
    measure: str  # change, or growth (a multiple of the baseline mean) with min_count
    min_count: Long | None
    start: str
    end: str
    baseline_start: str
    baseline_end: str
    unlisted_bound: float
    freshness: Freshness
    results: list[Change]


@strawberry.enum
class Direction(enum.Enum):
    RISING = "rising"
    FALLING = "falling"


@strawberry.type
class Window:
    label: str
    size_ms: Long
    retention_ms: Long | None


@strawberry.type
class Alert:
    """An item certainly above its tenant's share ``phi`` of a window (``lower_bound > phi * total_events``)."""

    window: str
    start: str
    end: str
    dimension: str
    value: str
    item: str
    lower_bound: Long
    upper_bound: Long
    total_events: Long
    phi: float
