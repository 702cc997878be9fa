"""The GraphQL API (``/graphql``, strawberry): several windows and dimension values in one request.

    { hour: topK(window: "1h", k: 5) { start end results { item count lowerBound upperBound guaranteed } }
      eu: topK(dimension: "region", value: "eu-west", start: "2026-11-23T10:00Z", end: "2026-11-23T12:00Z")
        { results { item count } }
      count(item: "item-1", start: "...", end: "...") { count lowerBound upperBound } }

Counts, totals and milliseconds are ``Long`` (64-bit; GraphQL's ``Int`` is 32-bit). The same questions
as the REST API, with its rules (``topk.query.requests``), auth, tenant and rate limit
(``topk.query.access``) and answers (``requests.body``); each ``topK`` and ``count`` counts one
request against the rate limit (the request itself is the first). One request may not fan out: at
most ``MAX_LOOKUPS`` lookups (aliases), depth ``MAX_DEPTH`` and ``MAX_TOKENS`` tokens, refused before
anything is read. A refused or failed field is an error naming it; nothing a client sends gives a 5xx.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TypeVar

import strawberry
from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from graphql import FieldNode, FragmentSpreadNode, GraphQLError, SelectionSetNode, ValidationRule
from redis.exceptions import RedisError
from strawberry.extensions import AddValidationRules, MaxAliasesLimiter, MaxTokensLimiter
from strawberry.fastapi import BaseContext, GraphQLRouter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from topk.query.access import Guard
from topk.query.archive import NotArchived
from topk.query.budgets import OverBudget
from topk.query.engine import NoArchive, NothingStored, TopKQueries
from topk.query.graphql_types import (
    LONG,
    Alert,
    Change,
    Direction,
    Frequent,
    Freshness,
    Long,
    Mode,
    RankedItem,
    TopK,
    Trending,
    Window,
)
from topk.query.requests import (
    BadRequest,
    Reach,
    body,
    check_group,
    check_growth,
    check_item,
    check_k,
    check_window,
    frequent_body,
    requested_range,
    trend_body,
)
from topk.stores.alerts_topic import PER_TENANT, AlertFeed
from topk.stores.cassandra_store import UNREACHABLE
from topk.times import iso
from topk.windows import WindowSpec

MAX_LOOKUPS = 20
MAX_DEPTH = 15  # ours are at most 3 deep; the standard introspection query (a client fetching the schema) is 15
MAX_TOKENS = 2_000
T = TypeVar("T")


class QueryFailed(Exception):
    """A field's answer could not be given (the message says why; the client's, or a store down)."""


async def answer(call: Callable[..., T], *args: object) -> T:
    """``call(*args)`` off the event loop, its failures as GraphQL errors with the REST API's words."""
    try:
        return await run_in_threadpool(call, *args)
    except (BadRequest, NotArchived, OverBudget, NoArchive, NothingStored) as err:
        raise QueryFailed(str(err)) from None
    except (RedisError, *UNREACHABLE) as err:
        raise QueryFailed(f"storage unavailable: {type(err).__name__}") from None


def top_k(data: dict, window: str | None, freshness: Freshness) -> TopK:
    meta = data["metadata"]
    fields = ("dimension", "value", "start", "end", "total_events", "error_bound", "guaranteed", "accuracy")
    return TopK(
        window=window,
        windows_merged=meta["windows_merged"],
        results=[RankedItem(**r) for r in data["results"]],
        freshness=freshness,
        **{f: meta[f] for f in fields},
    )


@strawberry.type
class Query:
    @strawberry.field(description="The window sizes stored, finest first; all-time last")
    def windows(self, info: Info) -> list[Window]:
        return [Window(label=w.label, size_ms=w.size_ms, retention_ms=w.retention_ms) for w in info.context.windows]

    @strawberry.field(
        description="Top-k: the newest stored window of a size, or with start and end the stored windows "
        "that tile the range, or the last so much up to the newest (mode EXACT: counted from the archive over "
        "exactly the range)"
    )
    async def top_k(
        self,
        info: Info,
        window: str = "1h",
        dimension: str = "all",
        value: str = "all",
        k: int = 10,
        start: str | None = None,
        end: str | None = None,
        last: str | None = None,
        mode: Mode = Mode.APPROXIMATE,
    ) -> TopK | None:
        ctx: Context = info.context
        ctx.charge()
        check_k(k, ctx.max_k)
        check_group(dimension, value)
        if start is None and end is None and last is None:
            check_window(window, ctx.by_label)
            latest = await answer(ctx.queries.latest, k, window, dimension, value)
            return None if latest is None else top_k(body(latest, dimension, value), window, await ctx.freshness())
        lo, hi = await ctx.range(start, end, last)
        ranged = await answer(ctx.queries.range_topk, k, lo, hi, dimension, value, mode.value)
        return top_k(body(ranged, dimension, value), None, await ctx.freshness())

    @strawberry.field(description="Bounds on one item's count over a range (mode EXACT: from the archive)")
    async def count(
        self,
        info: Info,
        item: str,
        start: str | None = None,
        end: str | None = None,
        last: str | None = None,
        dimension: str = "all",
        value: str = "all",
        mode: Mode = Mode.APPROXIMATE,
    ) -> RankedItem | None:  # null when refused: the other lookups keep their answers
        ctx: Context = info.context
        ctx.charge()
        check_item(item, ctx.max_item_length)
        check_group(dimension, value)
        lo, hi = await ctx.range(start, end, last)
        counted = await answer(ctx.queries.count, item, lo, hi, dimension, value, mode.value)
        return RankedItem(**body(counted, dimension, value)["results"][0])

    @strawberry.field(description="Every item whose count over a range may reach phi of its events")
    async def frequent(
        self,
        info: Info,
        phi: float,
        start: str | None = None,
        end: str | None = None,
        last: str | None = None,
        dimension: str = "all",
        value: str = "all",
    ) -> Frequent | None:
        ctx: Context = info.context
        ctx.charge()
        if not 0 < phi <= 1:
            raise BadRequest("phi: above 0, at most 1")
        check_group(dimension, value)
        lo, hi = await ctx.range(start, end, last)
        found = await answer(ctx.queries.frequent, Fraction(repr(phi)), lo, hi, dimension, value)
        data = frequent_body(*found, phi, dimension, value)
        meta = data["metadata"]
        fields = ("start", "end", "total_events", "threshold", "complete", "unlisted_bound")
        return Frequent(
            results=[RankedItem(**r) for r in data["results"]],
            freshness=await ctx.freshness(),
            **{f: meta[f] for f in fields},
        )

    @strawberry.field(
        description="The items whose count over a range rose (fell) most against their mean over the "
        "baseline ranges of the same length just before it; with minCount, those that grew by the largest "
        "multiple of that mean among the items counted at least minCount times"
    )
    async def trending(
        self,
        info: Info,
        start: str | None = None,
        end: str | None = None,
        last: str | None = None,
        k: int = 10,
        baseline: int = 1,
        direction: Direction = Direction.RISING,
        dimension: str = "all",
        value: str = "all",
        min_count: Long | None = None,
    ) -> Trending | None:
        ctx: Context = info.context
        ctx.charge()
        check_k(k, ctx.max_k)
        check_group(dimension, value)
        falling = direction is Direction.FALLING
        check_growth(min_count, falling)
        lo, hi = await ctx.range(start, end, last)
        found = await answer(ctx.queries.trending, k, lo, hi, baseline, dimension, value, falling, min_count)
        data = trend_body(*found, baseline, direction.value, dimension, value, min_count)
        meta = data["metadata"]
        return Trending(
            direction=direction.value,
            measure=meta["measure"],
            min_count=min_count,
            start=meta["start"],
            end=meta["end"],
            baseline_start=meta["baseline"]["start"],
            baseline_end=meta["baseline"]["end"],
            unlisted_bound=meta["unlisted_bound"],
            freshness=await ctx.freshness(),
            results=[Change(**r) for r in data["results"]],
        )

    @strawberry.field(
        description="The tenant's latest data alerts, latest window end first (REST: /api/v1/alerts); none when the "
        "API has no alerts topic"
    )
    def alerts(self, info: Info, limit: int = 100, window: str | None = None) -> list[Alert]:
        ctx: Context = info.context
        ctx.charge()
        if not 1 <= limit <= PER_TENANT:
            raise BadRequest(f"limit must be from 1 to {PER_TENANT}")
        if window is not None:
            check_window(window, ctx.by_label, sized=True)
        found = ctx.alerts.latest(ctx.tenant, limit, window) if ctx.alerts is not None else []
        fields = ("window", "dimension", "value", "item", "lower_bound", "upper_bound", "total_events", "phi")
        return [
            Alert(start=iso(a.window_start), end=iso(a.window_end), **{f: getattr(a, f) for f in fields}) for a in found
        ]


class MaxDepth(ValidationRule):
    """Refuses an operation nested deeper than ``MAX_DEPTH`` fields, fragments followed, introspection
    included (strawberry's ``QueryDepthLimiter`` does not count introspection fields)."""

    def enter_operation_definition(self, node, *_args) -> None:
        depth = self.depth(node.selection_set, frozenset())
        if depth > MAX_DEPTH:
            self.report_error(GraphQLError(f"query depth {depth} exceeds the maximum of {MAX_DEPTH}", node))

    def depth(self, selections: SelectionSetNode | None, fragments: frozenset[str]) -> int:
        deepest = 0
        for s in selections.selections if selections else ():
            if isinstance(s, FragmentSpreadNode):
                fragment = self.context.get_fragment(s.name.value)
                if fragment is not None and s.name.value not in fragments:
                    deepest = max(deepest, self.depth(fragment.selection_set, fragments | {s.name.value}))
            else:  # a field is one level; an inline fragment none
                deepest = max(deepest, isinstance(s, FieldNode) + self.depth(s.selection_set, fragments))
        return deepest


class Schema(strawberry.Schema):
    """Logs only the errors that are not a client's question refused or a store down (those are
    answered, not faults)."""

    def process_errors(self, errors: list, execution_context: object = None) -> None:
        answered = (BadRequest, QueryFailed)
        faults = [e for e in errors if not isinstance(e.original_error, answered) and e.original_error is not None]
        if faults:
            super().process_errors(faults, execution_context)


class Context(BaseContext):
    def __init__(
        self,
        tenant: str,
        queries: TopKQueries,
        guard: Guard,
        windows: tuple[WindowSpec, ...],
        max_k: int,
        max_item_length: int,
        alerts: AlertFeed | None,
    ) -> None:
        super().__init__()
        self.tenant, self.alerts = tenant, alerts
        self.queries, self.guard, self.windows = queries, guard, windows
        self.max_k, self.max_item_length = max_k, max_item_length
        self.by_label = {w.label: w for w in windows}
        self.lookups = 0
        self.reach = Reach(self.queries.progress)  # read at most once a request

    async def freshness(self) -> Freshness:
        return Freshness(**await run_in_threadpool(self.reach.freshness))

    async def range(self, start: str | None, end: str | None, last: str | None) -> tuple[int, int]:
        """``[start, end)`` of a lookup: start and end, or ``last`` up to the tenant's newest window."""
        return await answer(requested_range, start, end, last, self.reach)

    def charge(self) -> None:
        """Counts a lookup against the rate limit (the guard counted the request: its first)."""
        self.lookups += 1
        if self.lookups > 1 and not self.guard.allow_another(self.request):
            raise QueryFailed(f"more than {self.guard.per_minute} requests this minute (each lookup counts one)")


def graphql_router(
    queries: TopKQueries,
    guard: Guard,
    windows: tuple[WindowSpec, ...],
    max_k: int,
    max_item_length: int,
    alerts: AlertFeed | None = None,
) -> GraphQLRouter:
    """The ``/graphql`` endpoint (POST, and GET for queries), answered from the tenant ``guard``
    gives; no IDE page (it would load from a CDN)."""
    schema = Schema(
        query=Query,
        config=StrawberryConfig(scalar_map={Long: LONG}),
        extensions=[
            lambda: AddValidationRules([MaxDepth]),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_LOOKUPS),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        ],
    )

    async def get_context(tenant: str = Depends(guard)) -> Context:  # (module annotations are strings)
        return Context(tenant, queries.for_tenant(tenant), guard, windows, max_k, max_item_length, alerts)

    return GraphQLRouter(schema, path="/graphql", context_getter=get_context, graphql_ide=None)
