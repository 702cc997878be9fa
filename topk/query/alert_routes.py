"""``GET /api/v1/alerts``: a tenant's latest data alerts (``topk.alerts``), from the API's
``topk.stores.alerts_topic.AlertFeed`` (per tenant, the ``PER_TENANT`` with the latest window ends; none
when the API has no alerts topic).
Answers cost at most one pass over those, whatever the topic holds.

(No ``from __future__ import annotations``: FastAPI reads the route's annotations, which name ``guard``.)"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from topk.query.access import Guard
from topk.query.requests import check_window
from topk.stores.alerts_topic import PER_TENANT, AlertFeed
from topk.times import iso
from topk.windows import WindowSpec


def alert_routes(feed: AlertFeed | None, windows: tuple[WindowSpec, ...], guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    sized = {w.label: w for w in windows}

    @router.get("/alerts")
    def alerts(
        tenant: Annotated[str, Depends(guard)],
        limit: Annotated[int, Query(ge=1, le=PER_TENANT)] = 100,
        window: Annotated[str | None, Query(max_length=16, description="one window size; default: all")] = None,
    ) -> dict:
        """The tenant's latest alerts (latest window end first, then highest lower bound): items whose
        count in a window is certainly above its tenant's share φ (``lowerBound > phi * totalEvents``).
        ``feed``: whether the reader has caught up with the topic, records skipped, its last error; null when
        the API has no alerts topic (``--alerts-topic``), and then there are none."""
        if window is not None:
            check_window(window, sized, sized=True)
        found = feed.latest(tenant, limit, window) if feed is not None else []
        listed = [a.as_json() | {"start": iso(a.window_start), "end": iso(a.window_end)} for a in found]
        return {"tenant": tenant, "alerts": listed, "feed": feed.status() if feed is not None else None}

    return router
