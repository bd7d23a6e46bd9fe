"""Request limits: a cap on body size, and validation errors that never echo input.

:class:`BodyLimit` is plain ASGI middleware. A declared ``Content-Length`` over the
cap is refused at once; a body sent in chunks (or with a false length) is counted as
it streams and refused as soon as it passes the cap, so nothing over the cap is ever
held in memory. Either way the answer is ``413`` with a one-line JSON ``detail``.

:func:`validation_error` replaces FastAPI's 422 handler, which returns every invalid
value as ``input`` (a password of the wrong type, a 1 MB string): ours lists where
each error is and what is wrong, never the value.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "BodyLimit", "validation_error"]

#: The largest request body (1 MiB). No route takes files: images and data come from
#: disk through the CLI; the biggest JSON bodies are lists of sample ids.
MAX_BODY_BYTES = 1 << 20
_PART_CHARS = 100  # a location part (a key name from the body) is cut to this
_MSG_CHARS = 300


def _too_large(limit: int) -> str:
    return (
        f"the request body is larger than {_size(limit)}; send less (split a long list "
        "into several requests)."
    )


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n} bytes"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the cap (FastAPI re-raises it)."""

    def __init__(self, limit: int):
        super().__init__(status_code=413, detail=_too_large(limit))


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413.

    Parameters
    ----------
    app : ASGI application
    max_bytes : int
        The cap for every path.
    per_path : dict of str to int, optional
        Other caps for exact paths (a route that takes long lists).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, per_path: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.max_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, limit)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if started:  # too late for a 413: let the server drop the connection
                raise
            await _refuse(scope, receive, send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = JSONResponse({"detail": _too_large(limit)}, status_code=413)
    response.headers["Connection"] = "close"  # the rest of the body is not read
    await response(scope, receive, send)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 listing each error's location, message and type, without the input values."""
    detail = []
    for err in exc.errors():
        loc = [p if isinstance(p, int) else str(p)[:_PART_CHARS] for p in err.get("loc", ())]
        detail.append(
            {"loc": loc, "msg": str(err.get("msg", ""))[:_MSG_CHARS], "type": err.get("type")}
        )
    return JSONResponse({"detail": detail}, status_code=422)
