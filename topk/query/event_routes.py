"""``POST /api/v1/events``: one event, validated as the job validates it (``topk.query.ingest``), sent to the
job's topic; its body read no further than the event size limit.

(No ``from __future__ import annotations``: FastAPI reads the route's annotations, which name ``guard``.)"""

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from topk.events import DEFAULT_TENANT
from topk.query.access import Guard
from topk.query.ingest import EventLimits, EventProducer, Rejected, validate


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


def event_routes(producer: EventProducer | None, limits: EventLimits, guard: Guard) -> APIRouter:
    """``POST /api/v1/events``: events of the tenant ``guard`` gives only."""
    router = APIRouter(prefix="/api/v1")
    event_schema = {"content": {"application/json": {"schema": inline_refs(Event.model_json_schema())}}}

    @router.post("/events", status_code=202, openapi_extra={"requestBody": {**event_schema, "required": True}})
    async def post_event(request: Request, tenant: Annotated[str, Depends(guard)]) -> dict:
        """Validate one event as the job does (413/422 with the job's reason) and send it to the
        job's topic; 503 if the broker does not take it. A tenant token sends its tenant's events
        only (``metadata.tenantId``; absent means ``default``)."""
        raw = await read_body(request, limits.max_event_bytes)
        event = validate(raw, int(time.time() * 1000), limits)
        if guard.fixes_tenant(request) and (event["metadata"].get("tenantId") or DEFAULT_TENANT) != tenant:
            raise HTTPException(403, f"this token sends events of tenant {tenant} only (metadata.tenantId)")
        if producer is None:
            raise HTTPException(503, "no Kafka producer configured")
        await run_in_threadpool(producer.send, raw)
        return {"accepted": True, "topic": producer.topic}

    return router
