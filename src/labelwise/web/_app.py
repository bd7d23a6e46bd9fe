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

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        raw = request.scope.get("raw_path", b"") + b"?" + request.scope.get("query_string", b"")
        if b"%00" in raw or b"\x00" in raw or b"%00" in raw.lower():
            response = JSONResponse(
                {"detail": "the address contains a NUL character; remove it."}, status_code=400
            )
        else:
            response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.url.path.startswith("/api"):
            response.headers["Cache-Control"] = "no-store"
        return response

    annotate.enqueue(project)  # what earlier rounds selected is ready to hand out
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labelwise")
    except PackageNotFoundError:
        return "0"
