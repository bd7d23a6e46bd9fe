"""The HTML pages (server-rendered Jinja) and the media files they show."""

from __future__ import annotations

import io
import secrets
from pathlib import Path as FsPath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import and_, exists, select

from labelwise import annotate
from labelwise.annotate import SessionInfo
from labelwise.errors import (
    AuthError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    TooManyRequestsError,
)
from labelwise.store._models import Assignment, Label, Sample
from labelwise.web import _views
from labelwise.web._api import ADMIN, ANNOTATOR, REVIEWER, set_session_cookie
from labelwise.web._auth import check_login, csrf_ok, current_user

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "lw_login_csrf"
HOME = {"annotator": "/label", "reviewer": "/review", "admin": "/dashboard"}


def render(request: Request, template: str, user: SessionInfo | None, **ctx) -> HTMLResponse:
    """Render a page; ``data`` (the JSON twin's content) is also handed to its script."""
    return request.app.state.templates.TemplateResponse(
        request, template, {"user": user, "project_name": request.app.state.project_name, **ctx}
    )


# -- session -------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Annotated[str, Query(max_length=500)] = "/"):
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", None, csrf=token, next=_local(next), error=None)
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", path="/login")
    return resp


@router.post("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
):
    # double-submit: the form's token must match the cookie set with the form
    if not csrf_ok(csrf_token, request.cookies.get(LOGIN_CSRF, "")):
        raise ForbiddenError("the login form expired; reload the page and try again.")
    project = request.app.state.project
    try:
        user = check_login(request, username, password)
    except (AuthError, TooManyRequestsError) as e:
        token = secrets.token_urlsafe(24)
        resp = render(request, "login.html", None, csrf=token, next=_local(next), error=str(e))
        resp.status_code = 401
        if isinstance(e, TooManyRequestsError):
            resp.status_code = 429
            resp.headers["Retry-After"] = str(e.retry_after)
        resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", path="/login")
        return resp
    token, info = annotate.open_session(project, user)
    target = _local(next)
    resp = RedirectResponse(target if target != "/" else HOME[info.role], status_code=303)
    set_session_cookie(request, resp, token)
    resp.delete_cookie(LOGIN_CSRF, path="/login")
    return resp


def _local(target: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    # browsers drop tabs and newlines from a URL: "/\t/evil.com" would read as "//evil.com"
    bad = not target.isprintable() or "\\" in target
    if bad or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/")
def home(user: SessionInfo = Depends(current_user)):
    return RedirectResponse(HOME.get(user.role, "/label"), status_code=303)


# -- pages -------------------------------------------------------------------------------
@router.get("/label", response_class=HTMLResponse)
def label_page(request: Request, user: SessionInfo = Depends(ANNOTATOR)):
    return render(request, "label.html", user)


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, user: SessionInfo = Depends(REVIEWER)):
    data = annotate.review_queue(request.app.state.project, state="open", limit=100)
    return render(request, "review.html", user, data=data)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, user: SessionInfo = Depends(REVIEWER)):
    return render(request, "dashboard.html", user, data=_views.dashboard(request.app.state.project))


@router.get("/explorer", response_class=HTMLResponse)
def explorer_page(
    request: Request,
    sort: Literal["id", "uid", "score", "round", "label"] = "score",
    order: Literal["asc", "desc"] = "desc",
    label: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    state: Literal["labeled", "unlabeled", "selected", ""] | None = None,
    scored_by: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    user: SessionInfo = Depends(REVIEWER),
):
    data = _views.explorer(
        request.app.state.project,
        sort=sort,
        order=order,
        label=label or None,
        q=q or None,
        state=state or None,
        scored_by=scored_by or None,
        offset=offset,
        limit=50,
        admin=user.role == "admin",
    )
    query = {
        "sort": sort,
        "order": order,
        "label": label or "",
        "q": q or "",
        "state": state or "",
        "scored_by": data["scored_by"] or "",
    }
    return render(request, "explorer.html", user, data=data, query=query)


def sample_view(project, sample_id: int, *, admin: bool = False) -> dict:
    """One sample: content, label history (who, when, review), why it was selected.

    Admins also see whether it belongs to the random evaluation set (``eval``).
    """
    from labelwise.loop._project import provenance

    smp = annotate.sample_payload(project, sample_id)
    if admin:
        with project.session() as s:
            smp["eval"] = s.get(Sample, sample_id).split == "eval"
    with project.session() as s:
        labels = s.scalars(
            select(Label).where(Label.sample_id == sample_id).order_by(Label.id)
        ).all()
    smp["media_url"] = f"/media/{sample_id}" if smp["has_media"] else None
    return {
        "sample": smp,
        "labels": [
            {
                "id": lab.id,
                "value": lab.value,
                "status": lab.status,
                "annotator": lab.annotator,
                "created_at": lab.created_at,
                "unsure": lab.unsure,
                "comment": lab.comment,
                "review_status": lab.review_status,
                "review_note": lab.review_note,
                "reviewer": lab.reviewer,
            }
            for lab in labels
        ],
        "provenance": provenance(project, smp["uid"]),
    }


@router.get("/samples/{sample_id}", response_class=HTMLResponse)
def sample_page(
    request: Request,
    sample_id: Annotated[int, Path(ge=1, le=2**53)],
    user: SessionInfo = Depends(REVIEWER),
):
    data = sample_view(request.app.state.project, sample_id, admin=user.role == "admin")
    return render(request, "sample.html", user, data=data)


@router.get("/quality", response_class=HTMLResponse)
def quality_page(
    request: Request,
    method: Literal["majority", "crowdlab"] = "majority",
    user: SessionInfo = Depends(REVIEWER),
):
    data = _views.quality(request.app.state.project, method=method)
    return render(request, "quality.html", user, data=data)


@router.get("/issues", response_class=HTMLResponse)
def issues_page(request: Request, user: SessionInfo = Depends(REVIEWER)):
    data = _views.label_issues(request.app.state.project)
    return render(request, "issues.html", user, data=data)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, user: SessionInfo = Depends(ADMIN)):
    data = {"users": annotate.list_users(request.app.state.project)}
    return render(request, "users.html", user, data=data)


@router.get("/admin/classes", response_class=HTMLResponse)
def classes_page(request: Request, user: SessionInfo = Depends(ADMIN)):
    data = {"classes": annotate.class_table(request.app.state.project)}
    return render(request, "classes.html", user, data=data)


@router.get("/admin/queue", response_class=HTMLResponse)
def queue_page(request: Request, user: SessionInfo = Depends(ADMIN)):
    from labelwise.loop._evalset import eval_set_info

    p = request.app.state.project
    users = [u for u in annotate.list_users(p) if u["active"]]
    lease = request.app.state.lease_minutes
    data = {
        "counts": annotate.queue_counts(p),
        "settings": annotate.get_settings(p).__dict__,
        "annotators": [u["name"] for u in users if u["role"] == "annotator"],
        "lease_minutes": lease,
        "holders": annotate.holders(p, lease_minutes=lease),
        "eval_set": eval_set_info(p),
    }
    return render(request, "queue.html", user, data=data)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    user: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    sample: Annotated[str | None, Query(max_length=20)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    who: SessionInfo = Depends(ADMIN),
):
    # the filter form sends empty fields: "" means no filter, as on the explorer
    sid = None
    if sample:
        if not sample.isdigit() or not 1 <= int(sample) <= 2**53:
            raise InvalidInputError(f"sample must be a sample id (a number), got {sample!r}.")
        sid = int(sample)
    data = _views.audit(
        request.app.state.project,
        user=user or None,
        kind=kind or None,
        sample=sid,
        offset=offset,
        limit=100,
    )
    query = {"user": user or "", "kind": kind or "", "sample": sample or ""}
    return render(request, "audit.html", who, data=data, query=query)


# -- media ---------------------------------------------------------------------------------
@router.get("/media/{sample_id}")
def media(
    request: Request,
    sample_id: Annotated[int, Path(ge=1, le=2**53)],
    thumb: bool = False,
    user: SessionInfo = Depends(current_user),
):
    """A sample's image, only from the project's media folders; annotators see their own work."""
    project = request.app.state.project
    with project.session() as s:
        smp = s.get(Sample, sample_id)
        if smp is None or not smp.uri:
            raise NotFoundError(f"sample {sample_id} has no media.")
        if user.role == "annotator" and not _may_see(s, user.name, smp):
            raise ForbiddenError("this sample is not assigned to you.")
    path = _inside_roots(request.app.state.media_roots, FsPath(smp.uri))
    if thumb:
        return Response(_thumbnail(path), media_type="image/jpeg")
    return FileResponse(path)


def _may_see(s, user: str, smp: Sample) -> bool:
    """Assigned to this user, or a neighbouring frame of a frame assigned to them."""
    from labelwise.annotate._queue import _frame_neighbors

    ids = [smp.id]
    meta = smp.meta or {}
    if "video" in meta and "frame" in meta:
        ids += [n["id"] for n in _frame_neighbors(s, smp, meta)]  # the relation is symmetric
    mine = exists().where(and_(Assignment.annotator == user, Assignment.sample_id.in_(ids)))
    return bool(s.scalar(select(mine)))


def _inside_roots(roots: list[FsPath], path: FsPath) -> FsPath:
    try:  # a null byte, a too long name or a symlink loop: no file of ours either
        real = path.resolve()
        ok = any(real.is_relative_to(r) for r in roots) and real.is_file()
    except (OSError, ValueError, RuntimeError):
        ok = False
    if not ok:
        raise NotFoundError("that file is not in the project's media folders.")
    return real


@router.get("/media/files/{path:path}")
def media_file(
    request: Request,
    path: Annotated[str, Path(max_length=1000)],
    user: SessionInfo = Depends(REVIEWER),
):
    """A file under the project's own ``media/`` folder; ``..`` and absolute paths refused."""
    root = (request.app.state.project.path / "media").resolve()
    parts = FsPath(path).parts
    if ".." in parts or FsPath(path).is_absolute() or "\\" in path:
        raise ForbiddenError("media paths may not leave the project's media folder.")
    return FileResponse(_inside_roots([root], root / path))


_THUMBS: dict = {}


def _thumbnail(path: FsPath, size: int = 160) -> bytes:
    key = (str(path), path.stat().st_mtime_ns)
    if key in _THUMBS:
        return _THUMBS[key]
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=80)
    except (OSError, Image.DecompressionBombError):
        raise NotFoundError(f"{path.name} is not a readable image (or too large).") from None
    if len(_THUMBS) > 2000:
        _THUMBS.clear()
    _THUMBS[key] = buf.getvalue()
    return _THUMBS[key]
