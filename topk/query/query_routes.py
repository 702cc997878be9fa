"""The read routes under ``/api/v1``: top-K of the newest window or any range, the items above a share,
the trend against earlier ranges, and one item's count or series, each for the caller's tenant.

(No ``from __future__ import annotations``: FastAPI reads the handlers' local ``Annotated`` types.)"""

from fractions import Fraction
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from topk.query.access import Guard
from topk.query.engine import APPROXIMATE, TopKQueries
from topk.query.requests import (
    DIMENSION,
    MAX_TIME_TEXT,
    VALUE,
    Reach,
    body,
    check_growth,
    check_item,
    check_window,
    frequent_body,
    requested_range,
    trend_body,
)
from topk.times import iso
from topk.windows import WindowSpec


def query_routes(
    queries: TopKQueries, windows: tuple[WindowSpec, ...], max_k: int, max_item_length: int, guard: Guard
) -> APIRouter:
    """``/api/v1/topk``, ``/api/v1/topk/historical``, ``/api/v1/frequent``, ``/api/v1/trending``,
    ``/api/v1/count`` and ``/api/v1/series`` (the item as ``?item=`` or URL-encoded in the path), each
    answered from the tenant ``guard`` gives."""
    router = APIRouter(prefix="/api/v1")

    def tenant_queries(tenant: Annotated[str, Depends(guard)]) -> TopKQueries:
        return queries.for_tenant(tenant)

    Queries = Annotated[TopKQueries, Depends(tenant_queries)]
    sized = {w.label: w for w in windows}
    K = Annotated[int, Query(ge=1, le=max_k)]
    Dim = Annotated[str, Query(pattern=DIMENSION, description="all, a dimension, or dimensions joined by +")]
    Value = Annotated[str, Query(pattern=VALUE, description="combination: the parts' values joined by |")]
    Time = Annotated[str | None, Query(min_length=1, max_length=MAX_TIME_TEXT, description="epoch ms or ISO-8601")]
    Last = Annotated[
        str | None, Query(max_length=16, description="instead of start and end: e.g. 3h, up to the newest")
    ]
    Mode = Literal["approximate", "exact"]
    length = {"min_length": 1, "max_length": max_item_length}
    items = {
        "": Annotated[str, Query(**length, description="the item: any an event can carry")],
        "/{item:text}": Annotated[str, Path(**length, description="the item, URL-encoded; . and .. only as ?item=")],
    }  # (text: topk.query.asgi) a client resolves the path segments . and .. before sending: they need ?item=

    @router.get("/windows")
    def stored_windows() -> dict:
        """The window sizes stored (finest first, all-time last) and the largest k served."""
        sizes = [{"label": w.label, "size_ms": w.size_ms, "retention_ms": w.retention_ms} for w in windows]
        return {"windows": sizes, "max_k": max_k}

    @router.get("/topk")
    def topk(q: Queries, k: K = 10, window: str = "1h", dimension: Dim = "all", value: Value = "all") -> dict:
        """The newest stored window of a size: top-k items with bounds."""
        check_window(window, sized)
        answer = q.latest(k, window, dimension, value)
        if answer is None:
            raise HTTPException(404, f"no {window} window stored for {dimension}={value}")
        return body(answer, dimension, value, window=window, freshness=Reach(q.progress).freshness())

    @router.get("/topk/historical")
    def historical(
        q: Queries,
        start: Time = None,
        end: Time = None,
        last: Last = None,
        k: K = 10,
        dimension: Dim = "all",
        value: Value = "all",
        mode: Mode = APPROXIMATE,
    ) -> dict:
        """Top-k over any range: stored windows that tile it, merged (``start``/``end`` in the metadata
        are the covered interval). ``mode=exact``: counted from the archive over exactly the range."""
        reach = Reach(q.progress)
        lo, hi = requested_range(start, end, last, reach)
        answer = q.range_topk(k, lo, hi, dimension, value, mode)
        requested = {"start": iso(lo), "end": iso(hi)}
        return body(answer, dimension, value, requested=requested, freshness=reach.freshness())

    @router.get("/frequent")
    def frequent(
        q: Queries,
        phi: Annotated[float, Query(gt=0, le=1)],
        start: Time = None,
        end: Time = None,
        last: Last = None,
        dimension: Dim = "all",
        value: Value = "all",
    ) -> dict:
        """Every item whose count over a range may reach ``phi`` of its events (at most ``capacity``
        items): ``guaranteed`` where it certainly does. ``complete`` in the metadata: no item whose true
        count reaches the threshold is missing (always when ``phi`` > 1 / capacity)."""
        reach = Reach(q.progress)
        lo, hi = requested_range(start, end, last, reach)
        found = q.frequent(Fraction(repr(phi)), lo, hi, dimension, value)
        return frequent_body(*found, phi, dimension, value, freshness=reach.freshness())

    @router.get("/trending")
    def trending(
        q: Queries,
        start: Time = None,
        end: Time = None,
        last: Last = None,
        k: K = 10,
        baseline: Annotated[int, Query(ge=1)] = 1,
        direction: Literal["rising", "falling"] = "rising",
        dimension: Dim = "all",
        value: Value = "all",
        min_count: Annotated[
            int | None, Query(ge=1, description="rank by growth (a multiple) among items counted this often")
        ] = None,
    ) -> dict:
        """The k items whose count over a range rose (fell) most against their mean count over the
        ``baseline`` ranges of the same length just before it, among those that rose (fell): each
        change with guaranteed bounds, ``guaranteed`` where certainly among the true k largest. With
        ``min_count``: the items that grew by the largest multiple of that mean (a mean below one
        counting as one) among those counted at least ``min_count`` times in the range."""
        falling = direction == "falling"
        check_growth(min_count, falling)
        reach = Reach(q.progress)
        lo, hi = requested_range(start, end, last, reach)
        found = q.trending(k, lo, hi, baseline, dimension, value, falling, min_count)
        return trend_body(*found, baseline, direction, dimension, value, min_count, freshness=reach.freshness())

    for suffix, Item in items.items():  # /count?item=… and /count/{item}; /series likewise

        @router.get("/count" + suffix)
        def count(
            q: Queries,
            item: Item,
            start: Time = None,
            end: Time = None,
            last: Last = None,
            dimension: Dim = "all",
            value: Value = "all",
            mode: Mode = APPROXIMATE,
        ) -> dict:
            """Bounds on one item's count over a range; ``mode=exact``: its count from the archive."""
            reach = Reach(q.progress)
            lo, hi = requested_range(start, end, last, reach)
            counted = q.count(check_item(item, max_item_length), lo, hi, dimension, value, mode)
            return body(counted, dimension, value, freshness=reach.freshness())

        @router.get("/series" + suffix)
        def series(
            q: Queries,
            item: Item,
            window: str,
            start: Time = None,
            end: Time = None,
            last: Last = None,
            dimension: Dim = "all",
            value: Value = "all",
        ) -> dict:
            """One item's count, with bounds, in each stored window of a size over a range (oldest first;
            at most 1,000 windows)."""
            w = check_window(window, sized, sized=True)
            reach = Reach(q.progress)
            lo, hi = requested_range(start, end, last, reach)
            points = [
                {
                    "window_start": iso(s),
                    "window_end": iso(s + w.size_ms),
                    "count": c.estimate,
                    "lower_bound": c.lower_bound,
                    "upper_bound": c.upper_bound,
                }
                for s, c in q.series(check_item(item, max_item_length), w, lo, hi, dimension, value)
            ]
            meta = {"item": item, "window": window, "dimension": dimension, "value": value}
            meta |= {"start": iso(lo), "end": iso(hi), "freshness": reach.freshness()}
            return {"points": points, "metadata": meta}

    return router
