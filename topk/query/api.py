"""The query API (FastAPI): REST under /api/v1 (OpenAPI at /openapi.json, docs at /docs), GraphQL at
/graphql (``topk.query.graphql``), and the leaderboard page at / (``topk/query/page``: plain HTML,
JavaScript and SVG, shipped in the package; no build step, no CDN).

python -m topk.query.api --port 8080 [--windows 1m,1h,1d,all] [--retention ...] [--api-token-file F]
    [--api-tokens-file F] [--rate-limit-per-minute 600] [--archive-url s3://topk-archive --s3-endpoint-url http://127.0.0.1:8333]

It starts whatever state Redis, Cassandra and the broker are in: stores connect on first use,
``/health/ready`` says which answer, and requests answer 503 while one they need is down.
Client mistakes are 4xx with a ``detail``; nothing a client sends gives a 5xx, and no request costs
more than its budgets allow (``topk.query.budgets``, ``--max-graphql-bytes``, the rate limit). Every
data route answers for one tenant: its token's, or the one an admin (or anyone, with no tokens set)
names in ``?tenant=`` (``topk.query.access``). With no token configured it listens on a loopback
address only, unless ``--insecure-open``.
"""

import argparse  # (no `from __future__ import annotations`: FastAPI reads the handlers' local Annotated types)
import ipaddress
import os
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path as FilePath
from typing import Self

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from redis.exceptions import RedisError

from topk.query.access import Guard, read_tokens
from topk.query.alert_routes import alert_routes
from topk.query.archive import NotArchived
from topk.query.asgi import BodyLimit
from topk.query.budgets import OverBudget
from topk.query.connect import add_storage_arguments, open_queries
from topk.query.engine import NoArchive, NothingStored, TopKQueries
from topk.query.event_routes import event_routes
from topk.query.graphql import graphql_router
from topk.query.ingest import EventLimits, EventProducer, Rejected, Unavailable
from topk.query.query_routes import query_routes
from topk.query.requests import BadRequest
from topk.settings import SketchSettings, add_settings, setting, settings_of
from topk.stores.alerts_topic import AlertFeed
from topk.stores.cassandra_store import UNREACHABLE
from topk.stores.kafka_client import KafkaSettings
from topk.windows import WindowSpec

PAGE = FilePath(__file__).parent / "page"
MAX_GRAPHQL_BYTES = 262_144  # 20 lookups of the longest item, JSON-escaped, fit


@dataclass(frozen=True)
class ApiConfig:
    windows: tuple[WindowSpec, ...]
    max_k: int = 1024
    api_token: str = ""  # the admin token; empty, and no tenant tokens: no auth
    tenant_tokens: dict[str, str] = field(default_factory=dict)  # token hash -> tenant (topk.query.access)
    rate_limit_per_minute: int = 0  # 0: unlimited
    limits: EventLimits = field(default_factory=EventLimits)
    max_graphql_bytes: int = MAX_GRAPHQL_BYTES


def add_error_handlers(app: FastAPI) -> None:
    def handle(*errors: type[Exception], status: int | None = None, detail: str | None = None) -> None:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            code = status or getattr(exc, "status", 400)
            text = detail.format(name=type(exc).__name__) if detail else str(exc)
            extra = {"reason": exc.reason} if isinstance(exc, Rejected) else {}
            return JSONResponse({"detail": text, **extra}, status_code=code)

        for error in errors:
            app.add_exception_handler(error, handler)

    handle(RedisError, *UNREACHABLE, status=503, detail="storage unavailable: {name}")
    handle(Unavailable, status=503)
    handle(NoArchive, status=501)
    handle(NothingStored, status=404)
    handle(BadRequest, NotArchived, OverBudget, status=400)
    handle(Rejected)  # its own status: 413 or 422


def health_routes(queries: TopKQueries) -> APIRouter:
    """``/health/live`` (the process answers) and ``/health/ready`` (which stores answer)."""
    router = APIRouter(prefix="/health")

    @router.get("/live")
    def live() -> dict:
        return {"status": "ok"}

    @router.get("/ready")
    def ready() -> JSONResponse:
        checks = queries.ready()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

    return router


def add_metrics(app: FastAPI, guard: Guard) -> None:
    """Requests per route template, status and tenant (only tenants with a token, and ``default``;
    any other is ``other``; empty: none resolved, e.g. refused before) and latency per route
    template, at ``/metrics`` (Prometheus; the admin token when tokens are configured)."""
    registry = CollectorRegistry()
    requests = Counter("topk_api_requests", "API requests", ["path", "status", "tenant"], registry=registry)
    latency = Histogram("topk_api_latency_seconds", "API latency", ["path"], registry=registry)

    @app.middleware("http")
    async def observe(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        path = getattr(request.scope.get("route"), "path", "unmatched")  # the route template, not the raw URL
        tenant = getattr(request.state, "tenant", None)
        requests.labels(path, str(response.status_code), "" if tenant is None else guard.label(tenant)).inc()
        latency.labels(path).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", dependencies=[Depends(guard.admin)])
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def add_page(app: FastAPI) -> None:
    """The leaderboard page at ``/`` and its files under ``/page/``: open to all, as they hold no data;
    the page reads the API with the token its user gives it."""
    app.mount("/page", StaticFiles(directory=PAGE), name="page")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(PAGE / "index.html")


def create_app(
    queries: TopKQueries, config: ApiConfig, producer: EventProducer | None = None, alerts: AlertFeed | None = None
) -> FastAPI:
    app = FastAPI(title="Top-K heavy hitters", version="1")
    add_error_handlers(app)
    guard = Guard(config.api_token, config.tenant_tokens, config.rate_limit_per_minute)
    guarded = [Depends(guard)]  # every route, also those that read no tenant's data (once per request: cached)
    routes = query_routes(queries, config.windows, config.max_k, config.limits.max_item_length, guard)
    app.include_router(routes, dependencies=guarded)
    app.include_router(event_routes(producer, config.limits, guard), dependencies=guarded)
    app.include_router(alert_routes(alerts, config.windows, guard), dependencies=guarded)
    graphql = graphql_router(queries, guard, config.windows, config.max_k, config.limits.max_item_length, alerts)
    app.include_router(graphql, dependencies=guarded, include_in_schema=False)
    app.add_middleware(BodyLimit, path="/graphql", limit=config.max_graphql_bytes, flag="--max-graphql-bytes")
    app.include_router(health_routes(queries))
    add_metrics(app, guard)  # (added last: it sees the requests BodyLimit refuses too)
    add_page(app)
    return app


@dataclass(frozen=True)
class ApiSettings:
    """API: where it listens, who may call it, how often."""

    host: str = setting("127.0.0.1", "the address to listen on (with no token configured: loopback only)")
    port: int = setting(8080, "the port to listen on")
    api_token_file: str = setting(
        "",
        "require 'Authorization: Bearer <token>' on /api/* and /graphql: the admin token (reads every "
        "tenant) read from this file (or the TOPK_API_TOKEN environment variable); never on the command line",
    )
    api_tokens_file: str = setting(
        "",
        "tenant tokens, hashed: lines '<tenant> sha256:<hex>' (python -m topk.query.access add); "
        "a tenant token reads its tenant only",
    )
    rate_limit_per_minute: int = setting(
        0, "per tenant (tenant tokens), admin token or address; each GraphQL topK and count counts one; 0: off"
    )
    max_graphql_bytes: int = setting(MAX_GRAPHQL_BYTES, "a larger /graphql body is refused (413) before it is parsed")
    insecure_open: bool = setting(
        False,
        "with no token configured, listen on --host even if it is not loopback: anyone who reaches it reads "
        "every tenant's results",
    )

    @property
    def token(self) -> str:
        return (
            FilePath(self.api_token_file).read_text().strip()
            if self.api_token_file
            else os.environ.get("TOPK_API_TOKEN", "")
        )

    @property
    def tenant_tokens(self) -> dict[str, str]:
        return read_tokens(self.api_tokens_file) if self.api_tokens_file else {}

    def validate(self) -> Self:
        if not (self.token or self.tenant_tokens or loopback(self.host) or self.insecure_open):
            raise ValueError(
                f"no API token configured (--api-token-file, TOPK_API_TOKEN, --api-tokens-file): the API listens "
                f"on a loopback address only, not {self.host!r}; give a token, or --insecure-open to serve it open"
            )
        return self

    def notice(self) -> str:
        """What the API says at start of who can read it ("" when tokens are configured)."""
        if self.token or self.tenant_tokens:
            return ""
        reach = f"the API is open to anyone who can reach {self.host}:{self.port}"
        if loopback(self.host):
            return f"no API token configured: {reach} (this machine only)"
        return f"WARNING: no API token configured, and --insecure-open: {reach}, every tenant's results"


def loopback(host: str) -> bool:
    """Whether ``host`` is this machine only: ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(p, ApiSettings)
    add_storage_arguments(p)
    add_settings(p, SketchSettings, only=("capacity",))  # the largest k served
    # POST /api/v1/events, GET /api/v1/alerts
    add_settings(p, KafkaSettings, only=("bootstrap_servers", "kafka_properties", "topic", "alerts_topic"))
    add_settings(p, EventLimits, only=[f.name for f in fields(EventLimits) if f.name != "dimensions"])
    a = p.parse_args(argv)
    settings, kafka = settings_of(ApiSettings, a, p), settings_of(KafkaSettings, a, p)
    queries = open_queries(a, p)
    config = ApiConfig(
        tuple(queries.windows.values()),
        settings_of(SketchSettings, a, p).capacity,
        settings.token,
        settings.tenant_tokens,
        settings.rate_limit_per_minute,
        settings_of(EventLimits, a, p),
        settings.max_graphql_bytes,
    )
    if settings.notice():
        print(settings.notice(), file=sys.stderr)
    producer = EventProducer(kafka.client, kafka.topic)
    alerts = AlertFeed(kafka.client, kafka.alerts_topic).start() if kafka.alerts_topic else None
    try:
        uvicorn.run(create_app(queries, config, producer, alerts), host=settings.host, port=settings.port)
    finally:
        if alerts is not None:
            alerts.close()
        producer.close()


if __name__ == "__main__":
    main()
