"""The REST query API (FastAPI). OpenAPI at /openapi.json, docs at /docs.

python -m topk.query.api --port 8080 [--windows 1m,1h,1d,all] [--retention ...] [--api-token-file F]
    [--rate-limit-per-minute 600] [--archive-url s3://topk-archive --s3-endpoint-url http://127.0.0.1:8333]

It starts whatever state Redis, Cassandra and the broker are in: stores connect on first use,
``/health/ready`` says which answer, and requests answer 503 while one they need is down.
Client mistakes are 4xx with a ``detail``; nothing a client sends gives a 5xx.
"""

import argparse  # (no `from __future__ import annotations`: FastAPI reads the handlers' local Annotated types)
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Annotated, Literal

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from connectors.cassandra_store import UNREACHABLE
from connectors.kafka_client import kafka_client
from topk.query.archive import NotArchived
from topk.query.connect import add_storage_arguments, open_queries
from topk.query.engine import APPROXIMATE, Answer, NoArchive, RangeTooLong, TopKQueries
from topk.query.ingest import EventLimits, EventProducer, Rejected, Unavailable, validate
from topk.times import iso, parse_time_ms
from topk.windows import WindowSpec

NAME = r"^[A-Za-z0-9_.:\-]{1,256}$"
MAX_TIME_TEXT = 64  # the longest start/end accepted (epoch ms or ISO-8601)


@dataclass(frozen=True)
class ApiConfig:
    windows: tuple[WindowSpec, ...]
    max_k: int = 1024
    api_token: str = ""  # empty: no auth
    rate_limit_per_minute: int = 0  # 0: unlimited
    limits: EventLimits = field(default_factory=EventLimits)


class EventMetadata(BaseModel):
    """For the docs: the API validates the raw body as the job does (``topk.query.ingest``)."""

    eventId: str | None = Field(None, max_length=256)
    eventType: Literal["page_view", "product_view", "search", "generic"] = "generic"
    source: str | None = Field(None, max_length=256)
    timestamp: int | str


class Event(BaseModel):
    metadata: EventMetadata
    payload: dict[str, str | int | float]


def inline_refs(schema: dict) -> dict:
    """A pydantic JSON schema with its ``$defs`` written in place (an OpenAPI operation cannot
    point into a schema's own ``$defs``)."""
    defs = schema.pop("$defs", {})

    def resolve(node: object) -> object:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items()}
        return [resolve(v) for v in node] if isinstance(node, list) else node

    return resolve(schema)


def parse_time(text: str, name: str) -> int:
    """Epoch milliseconds or ISO-8601 (UTC when no offset is given); 400 otherwise."""
    try:
        if len(text) > MAX_TIME_TEXT:
            raise ValueError
        return parse_time_ms(text)
    except (ValueError, OverflowError):
        raise HTTPException(400, f"{name}: not epoch ms or ISO-8601: {text[:MAX_TIME_TEXT]!r}") from None


def time_range(start: str, end: str) -> tuple[int, int]:
    lo, hi = parse_time(start, "start"), parse_time(end, "end")
    if lo >= hi:
        raise HTTPException(400, "start must be before end")
    return lo, hi


def body(answer: Answer, dimension: str, value: str, **extra: object) -> dict:
    if answer.scan is not None:
        s = answer.scan
        extra["scan"] = {"partitions": s.partitions, "files": s.files, "bytes": s.bytes, "seconds": round(s.seconds, 3)}
    if answer.rounded:
        extra["rounded"] = {
            **answer.rounded,
            "reason": "finer windows there have expired (--retention): the range was rounded to these sizes",
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


class RateLimiter:
    """At most ``per_minute`` requests per client and calendar minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[tuple[str, int], int] = defaultdict(int)

    def allow(self, client: str) -> bool:
        minute = int(time.time() // 60)
        if len(self.seen) > 100_000:
            self.seen = defaultdict(int, {k: v for k, v in self.seen.items() if k[1] == minute})
        self.seen[(client, minute)] += 1
        return self.seen[(client, minute)] <= self.per_minute


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Rejected("too_large", f"event of {declared} bytes; at most {limit}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected("too_large", f"event of more than {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


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
    handle(NotArchived, RangeTooLong, status=400)
    handle(Rejected)  # its own status: 413 or 422


def create_app(queries: TopKQueries, config: ApiConfig, producer: EventProducer | None = None) -> FastAPI:
    app = FastAPI(title="Top-K heavy hitters", version="1")
    add_error_handlers(app)
    windows = {w.label: w for w in config.windows}
    registry = CollectorRegistry()
    requests = Counter("topk_api_requests", "API requests", ["path", "status"], registry=registry)
    latency = Histogram("topk_api_latency_seconds", "API latency", ["path"], registry=registry)
    limiter = RateLimiter(config.rate_limit_per_minute)

    @app.middleware("http")
    async def observe(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        path = getattr(request.scope.get("route"), "path", "unmatched")  # the route template, not the raw URL
        requests.labels(path, str(response.status_code)).inc()
        latency.labels(path).observe(time.perf_counter() - started)
        return response

    def guard(request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        if config.api_token:
            if request.headers.get("authorization", "") != f"Bearer {config.api_token}":
                raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
            client = config.api_token
        if config.rate_limit_per_minute and not limiter.allow(client):
            raise HTTPException(429, f"more than {config.rate_limit_per_minute} requests this minute")

    K = Annotated[int, Query(ge=1, le=config.max_k)]
    Dim = Annotated[str, Query(pattern=NAME)]
    Time = Annotated[str, Query(min_length=1, max_length=MAX_TIME_TEXT)]
    Mode = Literal["approximate", "exact"]
    api = [Depends(guard)]

    @app.get("/api/v1/topk", dependencies=api)
    def topk(k: K = 10, window: str = "1h", dimension: Dim = "all", value: Dim = "all") -> dict:
        """The newest stored window of a size: top-k items with bounds."""
        if window not in windows:
            raise HTTPException(400, f"unknown window {window[:64]!r}; stored windows: {', '.join(windows)}")
        answer = queries.latest(k, window, dimension, value)
        if answer is None:
            raise HTTPException(404, f"no {window} window stored for {dimension}={value}")
        return body(answer, dimension, value, window=window)

    @app.get("/api/v1/topk/historical", dependencies=api)
    def historical(
        start: Time, end: Time, k: K = 10, dimension: Dim = "all", value: Dim = "all", mode: Mode = APPROXIMATE
    ) -> dict:
        """Top-k over any range: stored windows that tile it, merged (``start``/``end`` in the metadata
        are the covered interval). ``mode=exact``: counted from the archive over exactly the range."""
        lo, hi = time_range(start, end)
        answer = queries.range_topk(k, lo, hi, dimension, value, mode)
        return body(answer, dimension, value, requested={"start": iso(lo), "end": iso(hi)})

    @app.get("/api/v1/count/{item}", dependencies=api)
    def count(
        item: Annotated[str, Path(min_length=1, max_length=config.limits.max_item_length)],
        start: Time,
        end: Time,
        dimension: Dim = "all",
        value: Dim = "all",
        mode: Mode = APPROXIMATE,
    ) -> dict:
        """Bounds on one item's count over a range; ``mode=exact``: its count from the archive."""
        lo, hi = time_range(start, end)
        return body(queries.count(item, lo, hi, dimension, value, mode), dimension, value)

    event_json = {"application/json": {"schema": inline_refs(Event.model_json_schema())}}
    event_schema = {"content": event_json, "required": True}

    @app.post("/api/v1/events", status_code=202, dependencies=api, openapi_extra={"requestBody": event_schema})
    async def post_event(request: Request) -> dict:
        """Validate one event as the job does (413/422 with the job's reason) and send it to the
        job's topic; 503 if the broker does not take it."""
        if producer is None:
            raise HTTPException(503, "no Kafka producer configured")
        raw = await read_body(request, config.limits.max_event_bytes)
        validate(raw, int(time.time() * 1000), config.limits)
        await run_in_threadpool(producer.send, raw)
        return {"accepted": True, "topic": producer.topic}

    @app.get("/health/live")
    def live() -> dict:
        return {"status": "ok"}

    @app.get("/health/ready")
    def ready() -> JSONResponse:
        checks = queries.ready()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    add_storage_arguments(p)
    d = EventLimits()
    p.add_argument("--capacity", type=int, default=1024, help="the job's --capacity: the largest k served")
    p.add_argument("--bootstrap-servers", default="127.0.0.1:9092", help="for POST /api/v1/events")
    p.add_argument("--kafka-properties", default="", help="client properties file (the job's flag)")
    p.add_argument("--topic", default="events")
    p.add_argument("--max-item-length", type=int, default=d.max_item_length, help="the job's")
    p.add_argument("--max-weight", type=int, default=d.max_weight, help="the job's")
    p.add_argument("--max-past-ms", type=int, default=d.max_past_ms, help="the job's")
    p.add_argument("--max-future-ms", type=int, default=d.max_future_ms, help="the job's")
    p.add_argument("--max-event-bytes", type=int, default=d.max_event_bytes, help="larger bodies: 413")
    p.add_argument(
        "--api-token-file", default="", help="require 'Authorization: Bearer <token>' on /api/*, the token read "
        "from this file (or the TOPK_API_TOKEN environment variable); never on the command line",
    )  # fmt: skip
    p.add_argument("--rate-limit-per-minute", type=int, default=0, help="per client (token or address); 0: off")
    a = p.parse_args(argv)
    token = FilePath(a.api_token_file).read_text().strip() if a.api_token_file else os.environ.get("TOPK_API_TOKEN", "")
    limits = EventLimits(a.max_item_length, a.max_weight, a.max_past_ms, a.max_future_ms, a.max_event_bytes)
    queries = open_queries(a)
    config = ApiConfig(tuple(queries.windows.values()), a.capacity, token, a.rate_limit_per_minute, limits)
    producer = EventProducer(kafka_client(a.bootstrap_servers, a.kafka_properties), a.topic)
    try:
        uvicorn.run(create_app(queries, config, producer), host=a.host, port=a.port)
    finally:
        producer.close()


if __name__ == "__main__":
    main()
