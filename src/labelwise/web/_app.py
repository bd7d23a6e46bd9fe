"""The web app: ``create_app(project_dir)`` returns a FastAPI application.

Pages are rendered on the server (Jinja, autoescaped) with a little plain
JavaScript. One naming rule: the JSON twin of page ``/x`` is ``GET /api/x``, and of an
admin page ``/admin/x`` it is ``GET /api/x`` (the API's role check stands in for the
prefix). User errors become a 4xx with the same one-line message the CLI prints; a
422 names each invalid field but never echoes its value; bodies over 1 MiB get 413;
failed logins back off (429 with ``Retry-After``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labelwise.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    LabelwiseError,
    NotFoundError,
    TooManyRequestsError,
)
from labelwise.store import Project
from labelwise.web._limits import MAX_BODY_BYTES, BodyLimit, validation_error
from labelwise.web._throttle import LoginThrottle

__all__ = ["create_app"]

HERE = Path(__file__).parent
STATUS = {
    AuthError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    TooManyRequestsError: 429,
}
#: Routes that take long lists of sample ids get a larger body cap than MAX_BODY_BYTES.
BODY_CAPS = {"/api/gold": 8 << 20}
CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def _status(exc: LabelwiseError) -> int:
    for cls, code in STATUS.items():
        if isinstance(exc, cls):
            return code
    return 400


def media_roots(project: Project) -> list[Path]:
    """Folders media may be served from: the project's and every imported source's."""
    from labelwise.store._models import Event

    roots = {project.path.resolve()}
    with project.session() as s:
        for payload in s.scalars(select(Event.payload).where(Event.kind == "samples.import")):
            src = Path(str((payload or {}).get("source", "")))
            if src.name:
                roots.add((src if src.is_dir() else src.parent).resolve())
    return sorted(roots)


class SecurityHeaders:
    """Plain ASGI middleware: security headers on every response; NUL in the address: 400.

    Plain ASGI rather than ``@app.middleware("http")``, whose request/response wrapping
    costs more than some API calls themselves.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope.get("path", "").startswith("/api")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "same-origin"
                if api:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        raw = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if b"\x00" in raw or b"%00" in raw.lower():
            response = JSONResponse(
                {"detail": "the address contains a NUL character; remove it."}, status_code=400
            )
            await response(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)


def create_app(project: str | Path | Project, *, lease_minutes: float | None = None) -> FastAPI:
    """The application for one project folder.

    ``lease_minutes`` (default 30): how long an annotator may hold an item without
    labeling it before it goes to the next person who asks for work.
    """
    from labelwise import annotate
    from labelwise.annotate._queue import check_lease
    from labelwise.web import _api, _pages

    lease = check_lease(annotate.LEASE_MINUTES if lease_minutes is None else lease_minutes)
    if not isinstance(project, Project):
        project = Project.open(project)
    app = FastAPI(
        title="labelwise",
        summary="Label the samples that teach the model most; review; watch quality.",
        version=_version(),
        docs_url=None,  # Swagger UI needs a CDN script and inline code: the CSP forbids both
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.project = project
    app.state.lease_minutes = lease
    app.state.project_name = project.info.name
    app.state.media_roots = media_roots(project)
    app.state.login_throttle = LoginThrottle()  # tests swap in one with their own clock
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(_api.router)
    app.include_router(_pages.router)

    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, per_path=BODY_CAPS)  # inner

    @app.exception_handler(LabelwiseError)
    async def user_error(request: Request, exc: LabelwiseError):
        code = _status(exc)
        headers = {"Retry-After": str(exc.retry_after)} if code == 429 else None
        if request.url.path.startswith("/api") or request.url.path.startswith("/media"):
            return JSONResponse({"detail": str(exc)}, status_code=code, headers=headers)
        if code == 401:
            target = quote(request.url.path, safe="/")
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "user": getattr(request.state, "user", None),
                "message": str(exc),
                "code": code,
                "project_name": app.state.project_name,
            },
            status_code=code,
            headers=headers,
        )

    app.add_middleware(SecurityHeaders)  # outer: added last

    annotate.enqueue(project)  # what earlier rounds selected is ready to hand out
    return app


#: Environment variables through which ``serve --workers N`` configures its worker processes.
WORKER_ENV = ("LABELWISE_SERVE_PROJECT", "LABELWISE_SERVE_LEASE", "LABELWISE_SERVE_WORKERS")


def worker_app() -> FastAPI:
    """The application of one of ``serve --workers N``'s processes (a uvicorn factory).

    The project comes from ``LABELWISE_SERVE_PROJECT``, the lease from
    ``LABELWISE_SERVE_LEASE``. On SQLite the worker's writers queue on a file lock
    shared with the other workers (:mod:`labelwise.store._db`). Failed logins back off
    in each worker separately, so each gets a share of the free failures and of the
    password-check slots: together about what one process allows.
    """
    import math
    import os

    folder, lease, workers = (os.environ[k] for k in WORKER_ENV)
    n = max(1, int(workers))
    app = create_app(Project.open(folder, process_lock=True), lease_minutes=float(lease))
    app.state.login_throttle = LoginThrottle(
        free_per_account=math.ceil(5 / n),
        free_per_address=math.ceil(20 / n),
        concurrent=max(1, (os.cpu_count() or 2) // n),
    )
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labelwise")
    except PackageNotFoundError:
        return "0"
