"""ASGI pieces the API stands on: a path parameter of any text (``{name:text}``), and a body limit
that refuses a request before reading more of it than the limit."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Text(Convertor[str]):
    """A path parameter of any text: slashes and line breaks too (Starlette's ``path`` stops at a line break)."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("text", Text())


class BodyLimit:
    """ASGI middleware: a request to ``path`` with a body of more than ``limit`` bytes is refused (413)
    without reading more of it than that; others go on with the body read."""

    def __init__(self, app: ASGIApp, path: str, limit: int, flag: str) -> None:
        self.app, self.path, self.limit = app, path, limit
        self.refusal = JSONResponse({"detail": f"a {path} body of more than {limit:,} bytes ({flag})"}, 413)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            return await self.refusal(scope, receive, send)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client left
            body += message.get("body", b"")
            if len(body) > self.limit:
                return await self.refusal(scope, receive, send)
            more = message.get("more_body", False)
        read: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay() -> Message:
            return read.pop() if read else await receive()

        return await self.app(scope, replay, send)
