"""The REST query API (FastAPI). OpenAPI at /openapi.json, docs at /docs.

python -m query.api --port 8080 [--windows 1m,1h,1d,all] [--api-token T] [--rate-limit-per-minute 600]
    [--archive-url s3://topk-archive --s3-endpoint-url http://127.0.0.1:8333]   (for mode=exact)
"""

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Literal

import uvicorn
from cassandra.cluster import NoHostAvailable
from confluent_kafka import Producer
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from generator import produce
from jobs.settings import WindowSpec, iso, parse_time_ms, parse_windows
from query.archive import NotArchived
from query.connect import add_storage_arguments, open_queries
from query.engine import APPROXIMATE, Answer, NoArchive, TopKQueries

NAME = r"^[A-Za-z0-9_.:\-]{1,256}$"


@dataclass(frozen=True)
class ApiConfig:
    windows: tuple[WindowSpec, ...]
    max_k: int = 1024
    topic: str = "events"
    api_token: str = ""  # empty: no auth
    rate_limit_per_minute: int = 0  # 0: unlimited


class EventMetadata(BaseModel):
    eventId: str | None = Field(None, max_length=256)
    eventType: Literal["page_view", "product_view", "search", "generic"] = "generic"
    source: str | None = Field(None, max_length=256)
    timestamp: int | str


class Event(BaseModel):
    metadata: EventMetadata
    payload: dict[str, str | int | float]


def parse_time(text: str, name: str) -> int:
    """Epoch milliseconds or ISO-8601 (UTC when no offset is given); 400 otherwise."""
    try:
        return parse_time_ms(text)
    except ValueError:
        raise HTTPException(400, f"{name}: not epoch ms or ISO-8601: {text!r}") from None


def body(answer: Answer, dimension: str, value: str, **extra: object) -> dict:
    if answer.scan is not None:
        s = answer.scan
        extra["scan"] = {"partitions": s.partitions, "files": s.files, "bytes": s.bytes, "seconds": round(s.seconds, 3)}
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


class _RateLimiter:
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


def create_app(queries: TopKQueries, config: ApiConfig, producer: Producer | None = None) -> FastAPI:
    app = FastAPI(title="Top-K heavy hitters", version="1")
    windows = {w.label: w for w in config.windows}
    registry = CollectorRegistry()
    requests = Counter("topk_api_requests", "API requests", ["path", "status"], registry=registry)
    latency = Histogram("topk_api_latency_seconds", "API latency", ["path"], registry=registry)
    limiter = _RateLimiter(config.rate_limit_per_minute)

    @app.middleware("http")
    async def observe(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        path = getattr(request.scope.get("route"), "path", "unmatched")  # the route template, not the raw URL
        requests.labels(path, str(response.status_code)).inc()
        latency.labels(path).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(RedisError)
    @app.exception_handler(NoHostAvailable)
    @app.exception_handler(OSError)  # the archive's filesystem
    async def backend_down(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"storage unavailable: {type(exc).__name__}"}, status_code=503)

    @app.exception_handler(NoArchive)
    async def no_archive(request: Request, exc: NoArchive) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=501)

    @app.exception_handler(NotArchived)
    async def bad_request(request: Request, exc: NotArchived) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

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
    Mode = Literal["approximate", "exact"]
    api = [Depends(guard)]

    def window_of(label: str) -> WindowSpec:
        if label not in windows:
            raise HTTPException(400, f"unknown window {label!r}; stored windows: {', '.join(windows)}")
        return windows[label]

    def time_range(start: str, end: str) -> tuple[int, int]:
        lo, hi = parse_time(start, "start"), parse_time(end, "end")
        if lo >= hi:
            raise HTTPException(400, "start must be before end")
        return lo, hi

    @app.get("/api/v1/topk", dependencies=api)
    def topk(k: K = 10, window: str = "1h", dimension: Dim = "all", value: Dim = "all") -> dict:
        """The newest stored window of a size: top-k items with bounds."""
        window_of(window)
        answer = queries.latest(k, window, dimension, value)
        if answer is None:
            raise HTTPException(404, f"no {window} window stored for {dimension}={value}")
        return body(answer, dimension, value, window=window)

    @app.get("/api/v1/topk/historical", dependencies=api)
    def historical(
        start: str,
        end: str,
        k: K = 10,
        dimension: Dim = "all",
        value: Dim = "all",
        mode: Mode = APPROXIMATE,
    ) -> dict:
        """Top-k over any range: stored windows that tile it, merged (``start``/``end`` in the metadata
        are the covered interval). ``mode=exact``: counted from the archive over exactly the range."""
        lo, hi = time_range(start, end)
        answer = queries.range_topk(k, lo, hi, dimension, value, mode)
        return body(answer, dimension, value, requested={"start": iso(lo), "end": iso(hi)})

    @app.get("/api/v1/count/{item}", dependencies=api)
    def count(
        item: Annotated[str, Path(min_length=1, max_length=1024)],
        start: str,
        end: str,
        dimension: Dim = "all",
        value: Dim = "all",
        mode: Mode = APPROXIMATE,
    ) -> dict:
        """Bounds on one item's count over a range; ``mode=exact``: its count from the archive."""
        lo, hi = time_range(start, end)
        return body(queries.count(item, lo, hi, dimension, value, mode), dimension, value)

    @app.post("/api/v1/events", status_code=202, dependencies=api)
    def post_event(event: Event) -> dict:
        """Validate one event and send it to the job's Kafka topic."""
        if producer is None:
            raise HTTPException(503, "no Kafka producer configured")
        outcome, value = [], event.model_dump_json(exclude_none=True).encode()
        producer.produce(config.topic, value, on_delivery=lambda err, _: outcome.append(err))
        producer.flush(10)
        if not outcome or outcome[0] is not None:
            raise HTTPException(503, f"not delivered to Kafka: {outcome[0] if outcome else 'timeout'}")
        return {"accepted": True, "topic": config.topic}

    @app.get("/health/live")
    def live() -> dict:
        return {"status": "ok"}

    @app.get("/health/ready")
    def ready() -> JSONResponse:
        checks = {}
        try:
            checks["redis"] = bool(queries.client.ping())
        except RedisError:
            checks["redis"] = False
        try:
            queries.session.execute("SELECT release_version FROM system.local")
            checks["cassandra"] = True
        except Exception:  # any driver error means not ready
            checks["cassandra"] = False
        return JSONResponse({"ready": all(checks.values()), **checks}, status_code=200 if all(checks.values()) else 503)

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    add_storage_arguments(p)
    p.add_argument("--capacity", type=int, default=1024, help="the job's --capacity: the largest k served")
    p.add_argument("--bootstrap-servers", default="127.0.0.1:9092", help="for POST /api/v1/events")
    p.add_argument("--topic", default="events")
    p.add_argument("--api-token", default="", help="require 'Authorization: Bearer <token>' on /api/*")
    p.add_argument("--rate-limit-per-minute", type=int, default=0, help="per client (token or address); 0: off")
    a = p.parse_args(argv)
    config = ApiConfig(parse_windows(a.windows), a.capacity, a.topic, a.api_token, a.rate_limit_per_minute)
    uvicorn.run(create_app(open_queries(a), config, produce.producer(a.bootstrap_servers)), host=a.host, port=a.port)


if __name__ == "__main__":
    main()
