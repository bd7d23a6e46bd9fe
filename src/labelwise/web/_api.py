"""The JSON API (every page's twin, and every write). Described at /openapi.json."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from labelwise import annotate
from labelwise.annotate import SessionInfo
from labelwise.web import _views
from labelwise.web._auth import COOKIE, check_login, current_user, require

router = APIRouter(prefix="/api")

Id = Annotated[int, Path(ge=1, le=2**53)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
ANNOTATOR = require("annotator")
REVIEWER = require("reviewer")
ADMIN = require("admin")


def _no_nul(value, where: str = "body"):
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where} contains a NUL character; remove it.")
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_nul(k, f"{where}.{k}")
            _no_nul(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_nul(v, f"{where}[{i}]")
    return value


class Body(BaseModel):
    """A JSON body: unknown keys and NUL characters refused (PostgreSQL cannot store NUL)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data):
        return _no_nul(data)


class LoginIn(Body):
    username: Annotated[str, Field(max_length=200)]
    password: Annotated[str, Field(max_length=1000)]


class SubmitIn(Body):
    assignment_id: Annotated[int, Field(ge=1, le=2**53)]
    label: Name | None = None  # a class name (classification, multi-label, regression)
    # detection and segmentation: the image's objects {width, height, objects: [...]}
    objects: dict | None = None
    unsure: bool = False
    comment: Annotated[str | None, Field(max_length=5000)] = None
    duration: Annotated[float | None, Field(ge=0, le=1e7, allow_inf_nan=False)] = None


class AssignmentIn(Body):
    assignment_id: Annotated[int, Field(ge=1, le=2**53)]


class ReviewIn(Body):
    decision: Literal["accept", "reject"]
    note: Annotated[str | None, Field(max_length=5000)] = None


class UserIn(Body):
    name: Name
    password: Annotated[str, Field(min_length=8, max_length=1000)]
    role: Literal["admin", "reviewer", "annotator"]


class UserPatch(Body):
    role: Literal["admin", "reviewer", "annotator"] | None = None
    active: bool | None = None
    password: Annotated[str | None, Field(min_length=8, max_length=1000)] = None


class ClassIn(Body):
    name: Name


class RenameIn(Body):
    old: Name
    new: Name


class MergeIn(Body):
    source: Name
    target: Name


class SettingsIn(Body):
    overlap_fraction: Annotated[float | None, Field(ge=0, le=1, allow_inf_nan=False)] = None
    overlap_k: Annotated[int | None, Field(ge=2, le=10)] = None
    gold_rate: Annotated[float | None, Field(ge=0, le=0.5, allow_inf_nan=False)] = None


class ReleaseIn(Body):
    annotator: Name


class AssignIn(Body):
    annotators: Annotated[list[Name], Field(min_length=1, max_length=200)]
    n: Annotated[int | None, Field(ge=1, le=10_000_000)] = None


class GoldIn(Body):
    answers: Annotated[dict[str, Name], Field(max_length=100_000)] = {}
    from_labels: Annotated[list[Name], Field(max_length=100_000)] = []


class RoundIn(Body):
    strategy: Name = "auto"
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 20
    model: Name = "logreg"
    train: bool = True
    random_share: Annotated[float, Field(ge=0, le=1)] = 0.0
    force: bool = False  # open a round while the latest one still has unlabeled picks
    seed: int | None = None  # seeds the selection (random picks, clustering) to repeat a round


class IssuesIn(Body):
    top: Annotated[int, Field(ge=1, le=10_000)] = 50


def _project(request: Request):
    return request.app.state.project


# -- session -------------------------------------------------------------------------------
@router.post("/login", tags=["session"])
def login(body: LoginIn, request: Request, response: Response) -> dict:
    """Log in; sets the session cookie and returns the CSRF token for later writes.

    Failed logins back off per account and per address: 429 with ``Retry-After``.
    """
    user = check_login(request, body.username, body.password)
    token, info = annotate.open_session(_project(request), user)
    set_session_cookie(request, response, token)
    return {"user": info.name, "role": info.role, "csrf": info.csrf}


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=14 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.post("/logout", tags=["session"])
def logout(request: Request, response: Response, user: SessionInfo = Depends(current_user)):
    """End this session."""
    annotate.end_session(_project(request), request.cookies.get(COOKIE))
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}


@router.get("/me", tags=["session"])
def me(user: SessionInfo = Depends(current_user)) -> dict:
    """Who is logged in, and the CSRF token of this session."""
    return {"user": user.name, "role": user.role, "csrf": user.csrf}


# -- labeling ------------------------------------------------------------------------------
@router.get("/label", tags=["label"])
@router.get("/next", tags=["label"])  # the same: label.js, scripts and tests call it
def next_item(request: Request, user: SessionInfo = Depends(ANNOTATOR)) -> dict:
    """Twin of /label: the next item for this annotator (assignment null when none is left).

    Work someone else has held past the lease (``serve --lease-minutes``) counts as free.
    """
    lease = request.app.state.lease_minutes
    item = annotate.next_item(_project(request), user.name, lease_minutes=lease)
    if item is None:
        return {
            "assignment": None,
            "sample": None,
            "suggestion": None,
            "classes": _project(request).classes(),
            "task": _project(request).task,
            "message": "Nothing left to label. An admin can start a new round.",
        }
    return _with_media(item)


def _with_media(item: dict) -> dict:
    smp = item["sample"]
    smp["media_url"] = f"/media/{smp['id']}" if smp.get("has_media") else None
    for n in smp.get("neighbors", []):
        n["media_url"] = f"/media/{n['id']}"
    return item


@router.post("/submit", tags=["label"])
def submit(body: SubmitIn, request: Request, user: SessionInfo = Depends(ANNOTATOR)) -> dict:
    """Label an assignment (409: not yours, already done, or your lease ran out and it went on).

    Give ``label`` (a class name) or, in a detection or segmentation project,
    ``objects``: ``{"width", "height", "objects": [{"class", "bbox": [x, y, w, h]}, ...]}``
    in image pixels, each object optionally with a ``segmentation`` (polygons). Objects
    that fail the checks (a box of size <= 0 or outside the image, an unknown class)
    answer 422 with the message naming the object and key.
    """
    from labelwise.errors import DataFileError, InvalidInputError

    if (body.label is None) == (body.objects is None):
        raise InvalidInputError("give either label (a class name) or objects (one of the two).")
    try:
        return annotate.submit(
            _project(request),
            user.name,
            body.assignment_id,
            body.label if body.objects is None else body.objects,
            unsure=body.unsure,
            comment=body.comment,
            duration=body.duration,
        )
    except DataFileError as e:
        raise HTTPException(422, detail=str(e)) from None


@router.post("/skip", tags=["label"])
def skip(body: AssignmentIn, request: Request, user: SessionInfo = Depends(ANNOTATOR)) -> dict:
    """Give an assignment back; someone else gets the sample."""
    annotate.skip(_project(request), user.name, body.assignment_id)
    return {"ok": True}


@router.post("/undo", tags=["label"])
def undo(request: Request, user: SessionInfo = Depends(ANNOTATOR)) -> dict:
    """Take back your latest label that no reviewer has decided on yet."""
    out = annotate.undo(_project(request), user.name)
    if out["item"] is not None:
        out["item"] = _with_media(out["item"])
    return out


# -- review ------------------------------------------------------------------------------
@router.get("/review", tags=["review"])
def review_queue(
    request: Request,
    state: Literal["open", "pending", "flagged"] = "open",
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    user: SessionInfo = Depends(REVIEWER),
) -> dict:
    """Twin of /review: labels waiting for a reviewer."""
    return annotate.review_queue(_project(request), state=state, offset=offset, limit=limit)


@router.post("/review/{label_id}", tags=["review"])
def review(
    label_id: Id, body: ReviewIn, request: Request, user: SessionInfo = Depends(REVIEWER)
) -> dict:
    """Accept or reject a label; a rejection needs a note and re-queues the sample."""
    return annotate.decide(_project(request), user.name, label_id, body.decision, body.note)


# -- pages' data -----------------------------------------------------------------------------
@router.get("/dashboard", tags=["pages"])
def dashboard(request: Request, user: SessionInfo = Depends(REVIEWER)) -> dict:
    """Twin of /dashboard."""
    return _views.dashboard(_project(request))


@router.get("/dashboard/baseline", tags=["pages"])
def dashboard_baseline(request: Request, user: SessionInfo = Depends(REVIEWER)) -> dict:
    """The dashboard's random replay: the metric with as many labels drawn at random."""
    return _views.baseline(_project(request))


@router.get("/explorer", tags=["pages"])
def samples(
    request: Request,
    sort: Literal["id", "uid", "score", "round", "label"] = "score",
    order: Literal["asc", "desc"] = "desc",
    label: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    round: Annotated[int | None, Query(ge=1, le=10**9)] = None,
    state: Literal["labeled", "unlabeled", "selected"] | None = None,
    scored_by: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    user: SessionInfo = Depends(REVIEWER),
) -> dict:
    """Twin of /explorer: every sample with label and scores, sortable and filterable.

    ``sort=score`` ranks the scores of one strategy, ``scored_by`` (default: the
    latest round's); samples it did not score come last. Scales of different
    strategies are not comparable (``score_kinds`` lists them).
    """
    return _views.explorer(
        _project(request),
        sort=sort,
        order=order,
        label=label,
        q=q,
        round=round,
        state=state,
        scored_by=scored_by,
        offset=offset,
        limit=limit,
        admin=user.role == "admin",
    )


@router.get("/samples/{sample_id}", tags=["pages"])
def sample(sample_id: Id, request: Request, user: SessionInfo = Depends(REVIEWER)) -> dict:
    """Twin of /samples/{id}: one sample, its label history and why it was selected."""
    from labelwise.web._pages import sample_view

    return sample_view(_project(request), sample_id, admin=user.role == "admin")


@router.get("/map", tags=["pages"])
def embedding_map(
    request: Request,
    color: Literal["label", "score", "selected"] = "label",
    method: Literal["pca", "umap"] = "pca",
    user: SessionInfo = Depends(REVIEWER),
) -> dict:
    """The 2-D embedding map of the explorer."""
    return _views.embedding_map(_project(request), color=color, method=method)


@router.get("/quality", tags=["quality"])
def quality(
    request: Request,
    method: Literal["majority", "crowdlab"] = "majority",
    user: SessionInfo = Depends(REVIEWER),
) -> dict:
    """Twin of /quality: accuracy on gold, kappa, flags, consensus labels."""
    return _views.quality(_project(request), method=method)


@router.get("/issues", tags=["quality"])
def label_issues(request: Request, user: SessionInfo = Depends(REVIEWER)) -> dict:
    """Twin of /issues: suspected wrong labels from out-of-fold predictions (cleanlab)."""
    return _views.label_issues(_project(request))


@router.post("/issues/queue", tags=["quality"])
def queue_issues(body: IssuesIn, request: Request, user: SessionInfo = Depends(REVIEWER)):
    """Send the top suspected label issues to the review queue with the model's suggestion."""
    found = _views.label_issues(_project(request))["issues"][: body.top]
    n = annotate.flag_issues(_project(request), found, actor=user.name)
    return {"flagged": n}


# -- admin -------------------------------------------------------------------------------
@router.get("/audit", tags=["admin"])
def audit(
    request: Request,
    user: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    sample: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    who: SessionInfo = Depends(ADMIN),
) -> dict:
    """Twin of /admin/audit: the audit log, newest first.

    ``user``: made by or about this account; ``kind``: an event kind or its family
    (``label`` = ``label.*``); ``sample``: about this sample id (its labels and
    assignments too).
    """
    return _views.audit(
        _project(request), user=user, kind=kind, sample=sample, offset=offset, limit=limit
    )


@router.get("/users", tags=["admin"])
def users(request: Request, user: SessionInfo = Depends(ADMIN)) -> dict:
    """Twin of /admin/users."""
    return {"users": annotate.list_users(_project(request))}


@router.post("/users", tags=["admin"])
def add_user(body: UserIn, request: Request, user: SessionInfo = Depends(ADMIN)) -> dict:
    """Create an account."""
    annotate.add_user(_project(request), body.name, body.password, body.role, actor=user.name)
    return {"name": body.name, "role": body.role}


@router.patch("/users/{name}", tags=["admin"])
def update_user(
    name: Annotated[str, Path(max_length=200)],
    body: UserPatch,
    request: Request,
    user: SessionInfo = Depends(ADMIN),
) -> dict:
    """Change a role, a password, or whether the account may log in."""
    u = annotate.update_user(
        _project(request),
        name,
        role=body.role,
        active=body.active,
        password=body.password,
        actor=user.name,
    )
    return {"name": u.name, "role": u.role, "active": u.active}


@router.get("/classes", tags=["admin"])
def classes(request: Request, user: SessionInfo = Depends(REVIEWER)) -> dict:
    """Twin of /admin/classes: every class, its status and label count."""
    return {"classes": annotate.class_table(_project(request))}


@router.post("/classes", tags=["admin"])
def add_class(body: ClassIn, request: Request, user: SessionInfo = Depends(ADMIN)) -> dict:
    """Add a class."""
    annotate.add_class(_project(request), body.name, actor=user.name)
    return {"classes": annotate.class_table(_project(request))}


@router.post("/classes/rename", tags=["admin"])
def rename_class(body: RenameIn, request: Request, user: SessionInfo = Depends(ADMIN)) -> dict:
    """Rename a class; every label follows."""
    n = annotate.rename_class(_project(request), body.old, body.new, actor=user.name)
    return {"labels_changed": n, "classes": annotate.class_table(_project(request))}


@router.post("/classes/merge", tags=["admin"])
def merge_classes(body: MergeIn, request: Request, user: SessionInfo = Depends(ADMIN)) -> dict:
    """Merge one class into another; its labels move."""
    n = annotate.merge_classes(_project(request), body.source, body.target, actor=user.name)
    return {"labels_changed": n, "classes": annotate.class_table(_project(request))}


@router.post("/classes/retire", tags=["admin"])
def retire_class(body: ClassIn, request: Request, user: SessionInfo = Depends(ADMIN)) -> dict:
    """Stop offering a class; its labels stay."""
    annotate.retire_class(_project(request), body.name, actor=user.name)
    return {"classes": annotate.class_table(_project(request))}


@router.get("/queue", tags=["admin"])
def queue(request: Request, user: SessionInfo = Depends(ADMIN)) -> dict:
    """Twin of /admin/queue: queue sizes, settings, the lease, holders, the evaluation set."""
    from labelwise.loop._evalset import eval_set_info

    p = _project(request)
    lease = request.app.state.lease_minutes
    return {
        "counts": annotate.queue_counts(p),
        "settings": annotate.get_settings(p).__dict__,
        "lease_minutes": lease,
        "holders": annotate.holders(p, lease_minutes=lease),
        "eval_set": eval_set_info(p),
    }


@router.post("/queue/release", tags=["admin"])
def release(body: ReleaseIn, request: Request, user: SessionInfo = Depends(ADMIN)) -> dict:
    """Hand every item a user holds back to the queue (logged); their late submit gets 409."""
    n = annotate.release(_project(request), body.annotator, actor=user.name)
    return {"annotator": body.annotator, "released": n}


@router.post("/queue/settings", tags=["admin"])
def queue_settings(body: SettingsIn, request: Request, user: SessionInfo = Depends(ADMIN)):
    """Overlap (share of samples labeled by k people) and the gold rate."""
    changes = body.model_dump(exclude_none=True)
    return annotate.set_settings(_project(request), actor=user.name, **changes).__dict__


@router.post("/queue/assign", tags=["admin"])
def assign(body: AssignIn, request: Request, user: SessionInfo = Depends(ADMIN)) -> dict:
    """Hand queued work to these annotators in turn."""
    return {"assigned": annotate.assign(_project(request), body.annotators, n=body.n)}


@router.post("/gold", tags=["admin"])
def add_gold(body: GoldIn, request: Request, user: SessionInfo = Depends(ADMIN)) -> dict:
    """Make samples gold: given answers, or their current labels (``from_labels``)."""
    p = _project(request)
    answers = dict(body.answers)
    if body.from_labels:
        answers.update(_current(p, body.from_labels))
    if not answers:
        from labelwise.errors import InvalidInputError

        raise InvalidInputError("give answers {uid: class} or from_labels [uid, ...].")
    return {"gold": annotate.add_gold(p, answers, actor=user.name)}


def _current(project, uids: list[str]) -> dict[str, str]:
    from sqlalchemy import select

    from labelwise._validation import normalize_id
    from labelwise.errors import InvalidInputError
    from labelwise.store._models import Label, Sample
    from labelwise.store._project import CHUNK

    uids = [normalize_id(u) for u in uids]  # the one id rule, as at import
    got: dict[str, str] = {}
    with project.session() as s:
        for start in range(0, len(uids), CHUNK):
            got.update(
                s.execute(
                    select(Sample.uid, Label.value)
                    .join(Label, Label.sample_id == Sample.id)
                    .where(Sample.uid.in_(uids[start : start + CHUNK]), Label.status == "accepted")
                ).all()
            )
    missing = [u for u in uids if u not in got]
    if missing:
        raise InvalidInputError(f"sample {missing[0]!r} has no label to use as its gold answer.")
    return got


@router.post("/rounds", tags=["admin"])
def start_round(body: RoundIn, request: Request, user: SessionInfo = Depends(ADMIN)) -> dict:
    """Start a round: train on the labels (when asked), select a batch, queue it.

    While the latest round still has unlabeled picks this answers 409 and changes
    nothing (no model is trained either), unless ``force`` is set.
    """
    from labelwise.loop._project import check_no_open_round, select_batch, train

    p = _project(request)
    if not body.force:
        check_no_open_round(p)
    trained = None
    if body.train:
        trained = train(p, model=body.model)
    res = select_batch(
        p,
        strategy=body.strategy,
        batch_size=body.batch_size,
        random_share=body.random_share,
        force=body.force,
        random_state=body.seed,
    )
    queued = annotate.enqueue(p, actor=user.name)
    p.log("round.start", {"round": res.round, "by": "web"}, user.name)
    return {
        "round": res.round,
        "strategy": res.strategy,
        "cold_start": res.cold_start,
        "selected": len(res.rows),
        "queued": queued,
        "trained": trained,
    }
