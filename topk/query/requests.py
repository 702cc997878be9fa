"""What a question to the query side may be, and how an answer reads: the rules the REST API
declares and the GraphQL API checks, and the JSON of an answer, so both answer alike. A request
outside the rules raises ``BadRequest`` (REST: 400; GraphQL: an error naming the field)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from redis.exceptions import RedisError

from topk.events import DIMENSION_PART, EVENT_TIME_RANGE_MS, MAX_DIMENSION_PARTS, MAX_VALUE_LENGTH
from topk.query.engine import Answer, NothingStored, Progress
from topk.sketches.heavy_hitters import Frequent
from topk.sketches.trend import Changes
from topk.stores.cassandra_store import UNREACHABLE
from topk.times import iso, parse_time_ms
from topk.windows import WindowSpec, duration_ms

_PART = DIMENSION_PART.pattern
DIMENSION = rf"^(all|{_PART}(\+{_PART}){{0,{MAX_DIMENSION_PARTS - 1}}})$"  # topk.events.check_dimension's rule
VALUE = rf"^[^\x00-\x1f\x7f]{{1,{MAX_VALUE_LENGTH}}}$"  # a dimension's value; a combination's joins its parts
MAX_TIME_TEXT = 64  # the longest start/end accepted (epoch ms or ISO-8601)


class BadRequest(ValueError):
    """A question the query side does not answer, and why."""


def parse_time(text: str, name: str) -> int:
    """Epoch milliseconds or ISO-8601 (UTC when no offset is given), a time an event can have
    (``EVENT_TIME_RANGE_MS``, its end included: the end of a range is exclusive)."""
    try:
        if len(text) > MAX_TIME_TEXT:
            raise ValueError
        ms = parse_time_ms(text)
    except (ValueError, OverflowError):
        raise BadRequest(f"{name}: not epoch ms or ISO-8601: {text[:MAX_TIME_TEXT]!r}") from None
    low, high = EVENT_TIME_RANGE_MS
    if not low <= ms <= high:
        raise BadRequest(f"{name}: times from {iso(low)} to {iso(high)} (epoch ms {low} to {high})")
    return ms


def time_range(start: str, end: str) -> tuple[int, int]:
    lo, hi = parse_time(start, "start"), parse_time(end, "end")
    if lo >= hi:
        raise BadRequest("start must be before end")
    return lo, hi


class Reach:
    """How far a tenant's results reach (``TopKQueries.progress``), read at most once a request: for a
    relative range (``known``: a store's failure is the request's) and for the answer's freshness
    (``freshness``: null when no store can tell, the answer stands)."""

    def __init__(self, read: Callable[[], Progress | None]) -> None:
        self.known = cache(read)

    def freshness(self) -> dict[str, str | None]:
        """Every event before ``counted_through`` is counted (but a late one still within the allowed
        lateness); the tenant's results were last written at ``written_at``."""
        try:
            reached = self.known()
        except (RedisError, *UNREACHABLE):
            reached = None
        return {
            "counted_through": None if reached is None else iso(reached.counted_through),
            "written_at": None if reached is None else iso(reached.written_at),
        }


def requested_range(start: str | None, end: str | None, last: str | None, reach: Reach) -> tuple[int, int]:
    """``[start, end)`` of a question: its ``start`` and ``end``, or ``last`` (``90m``, ``3h``, ``30d``): that
    much up to the end of the tenant's newest window written (``reach``)."""
    if last is None:
        if start is None or end is None:
            raise BadRequest("give start and end, or last (e.g. last=3h)")
        return time_range(start, end)
    if start is not None or end is not None:
        raise BadRequest("give start and end, or last, not both")
    span = duration_ms(last)
    if span is None:
        raise BadRequest("last: a duration such as 90m, 3h or 30d")
    reached = reach.known()
    if reached is None:
        raise NothingStored("no window is stored yet: nothing to count back from")
    return max(reached.counted_through - span, EVENT_TIME_RANGE_MS[0]), reached.counted_through


def check_group(dimension: str, value: str) -> tuple[str, str]:
    """A dimension (``all``, a name, or names joined by ``+``) and one of its values."""
    if not re.fullmatch(DIMENSION, dimension):
        raise BadRequest("dimension: all, a name (letters, digits, _) or up to 8 names joined by +")
    if not re.fullmatch(VALUE, value) or value.encode(errors="ignore").decode() != value:  # (a lone surrogate)
        raise BadRequest(f"value: 1 to {MAX_VALUE_LENGTH} characters of Unicode text, no control characters")
    return dimension, value


def check_item(item: str, max_length: int) -> str:
    """Any text an event can carry as its item: 1 to ``max_length`` characters of Unicode (a lone
    surrogate, which only a JSON escape can make, is no text a stream carries)."""
    if not 1 <= len(item) <= max_length:
        raise BadRequest(f"item: 1 to {max_length} characters")
    try:
        item.encode()
    except UnicodeEncodeError:
        raise BadRequest("item: not Unicode text (a lone surrogate)") from None
    return item


def check_k(k: int, max_k: int) -> int:
    if not 1 <= k <= max_k:
        raise BadRequest(f"k: from 1 to {max_k}")
    return k


def check_growth(min_count: int | None, falling: bool) -> int | None:
    """``min_count`` of a trend by growth, which ranks rises only."""
    if min_count is not None and (falling or min_count < 1):
        raise BadRequest("min_count: a positive count, asked with direction rising (growth ranks rises only)")
    return min_count


def check_window(label: str, windows: dict[str, WindowSpec], *, sized: bool = False) -> WindowSpec:
    w = windows.get(label)
    if w is None or (sized and w.is_all_time):
        known = [x for x, spec in windows.items() if not (sized and spec.is_all_time)]
        raise BadRequest(f"unknown window {label[:64]!r}; stored windows: {', '.join(known)}")
    return w


def body(answer: Answer, dimension: str, value: str, **extra: object) -> dict:
    """An answer as the API sends it: ranked ``results`` and the ``metadata`` of what it covers."""
    if answer.scan is not None:
        s = answer.scan
        extra["scan"] = {"partitions": s.partitions, "files": s.files, "bytes": s.bytes, "seconds": round(s.seconds, 3)}
    if answer.rounded:
        extra["rounded"] = {
            **answer.rounded,
            "reason": "finer windows there have expired (--retention) or were not kept: the range was rounded to "
            "these sizes",
        }
    return {
        "results": [
            {
                "rank": r,
                "item": i.item,
                "count": i.estimate,
                "lower_bound": i.lower_bound,
                "upper_bound": i.upper_bound,
                "guaranteed": i.guaranteed,
            }
            for r, i in enumerate(answer.items, 1)
        ],
        "metadata": {
            **extra,
            "dimension": dimension,
            "value": value,
            "start": iso(answer.start),
            "end": iso(answer.end),
            "total_events": answer.total_events,
            "error_bound": answer.error_bound,
            "guaranteed": sum(i.guaranteed for i in answer.items),
            "accuracy": answer.accuracy,
            "windows_merged": len(answer.windows),
            "generated_at": iso(answer.generated_at),
        },
    }


def frequent_body(found: Frequent, answer: Answer, phi: float, dimension: str, value: str, **extra: object) -> dict:
    """A threshold answer: ``body`` with the threshold, whether it is complete, and the unlisted bound."""
    meta = {
        **extra,
        "phi": phi,
        "threshold": found.threshold,
        "complete": found.complete,
        "unlisted_bound": found.unlisted_bound,
    }
    return body(answer, dimension, value, **meta)


def trend_body(
    found: Changes,
    now: Answer,
    before: Answer,
    periods: int,
    direction: str,
    dimension: str,
    value: str,
    min_count: int | None = None,
    **extra: object,
) -> dict:
    """A trend answer: each change (with ``min_count``: growth, a multiple) with its bounds and both
    sides' counts; ``metadata`` as ``body``'s for the range, with the baseline's interval, events and
    windows."""
    results = [
        {
            "rank": r,
            "item": c.item,
            "change": c.change,
            "change_lower_bound": c.lower_bound,
            "change_upper_bound": c.upper_bound,
            "count": c.current[0],
            "lower_bound": c.current[1],
            "upper_bound": c.current[2],
            "baseline": c.baseline[0],
            "baseline_lower_bound": c.baseline[1],
            "baseline_upper_bound": c.baseline[2],
            "guaranteed": c.guaranteed,
        }
        for r, c in enumerate(found.items, 1)
    ]
    covered = {"start": iso(before.start), "end": iso(before.end), "periods": periods}
    baseline = {**covered, "total_events": before.total_events, "windows_merged": len(before.windows)}
    extra |= {"direction": direction, "unlisted_bound": found.unlisted_bound, "guaranteed": found.guaranteed}
    extra |= {"measure": "change"} if min_count is None else {"measure": "growth", "min_count": min_count}
    return {"results": results, "metadata": {**body(now, dimension, value)["metadata"], **extra, "baseline": baseline}}
