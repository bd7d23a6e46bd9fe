"""What each page shows, as plain dicts: the HTML page renders it, its JSON twin returns it."""

from __future__ import annotations

import threading
from datetime import timedelta

import numpy as np
from sqlalchemy import and_, case, func, or_, select

from labelwise.annotate import class_table, queue_counts
from labelwise.errors import InvalidInputError
from labelwise.store import Project
from labelwise.store._models import Label, Round, Sample, SelectionRow, now

__all__ = [
    "audit",
    "baseline",
    "dashboard",
    "explorer",
    "embedding_map",
    "quality",
    "label_issues",
    "production",
]

_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def _cached(key, build):
    """Keep one computed value per key (keys include what would make it stale)."""
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    value = build()
    with _CACHE_LOCK:
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[key] = value
    return value


def _label_state(project: Project) -> tuple:
    """A key that changes whenever a label or the evaluation set changes.

    It names the project's database too: the cache is shared by every project this
    process serves (and by every test), and two projects can have equal label counts.
    """
    with project.session() as s:
        labels = s.execute(select(func.count(Label.id), func.max(Label.id))).one()
        n_eval = s.scalar(select(func.count()).select_from(Sample).where(Sample.split == "eval"))
    return (project.url, *labels, n_eval)


def dashboard(project: Project) -> dict:
    """Rounds, labels per class, the learning curve, stopping signals, queues, throughput."""
    from labelwise.loop._project import history, status

    st = status(project)
    since = now() - timedelta(hours=1)
    with project.session() as s:
        per_user = s.execute(
            select(
                Label.annotator,
                func.count(),
                func.sum(func.coalesce(Label.duration, 0.0)),
                func.count(Label.duration),
            )
            .where(Label.source == "web", Label.status != "withdrawn")
            .group_by(Label.annotator)
        ).all()
        last_hour = dict(
            s.execute(
                select(Label.annotator, func.count())
                .where(Label.source == "web", Label.created_at >= since)
                .group_by(Label.annotator)
            ).all()
        )
    throughput = [
        {
            "annotator": who,
            "labels": n,
            "last_hour": last_hour.get(who, 0),
            "mean_seconds": round(total / timed, 2) if timed else None,
        }
        for who, n, total, timed in per_user
    ]
    rounds = history(project)
    return {
        "production": production(project),
        "status": st,
        "classes": class_table(project),
        "queue": queue_counts(project),
        "throughput": sorted(throughput, key=lambda r: -r["labels"]),
        "metric_note": st["metric_note"],
        "eval_set": {k: st["eval_set"][k] for k in ("size", "n_labeled")},
        "curve": [
            {
                "round": r["round"],
                "labels": r["n_labeled"],
                "metric": r["metric"],
                "metric_ci": r["metric_ci"],
                "n_eval": r["n_eval"],
                "cv_metric": r["cv_metric"],
                "pool_metric": r.get("pool_metric"),
                "metric_name": r.get("metric_name"),
                "strategy": r["strategy"],
            }
            for r in rounds
            if r["finished"]
        ],
    }


def production(project: Project) -> list[dict]:
    """The dashboard's production panel: each monitored batch, newest first.

    Its drift verdict, the tests that fired, the estimated accuracy (with its 95 %
    interval) and how many samples it added to the labeling queue (and which round).
    """
    from labelwise.monitor import monitor_runs

    keys = (
        "batch",
        "at",
        "drift",
        "fired",
        "estimated_accuracy",
        "estimated_accuracy_ci",
        "n_batch",
        "n_enqueued",
        "round",
        "reference",
    )
    return [{k: r.get(k) for k in keys} for r in monitor_runs(project)]


#: What the dashboard says about the active-vs-random comparison.
ARM_NOTE = (
    "Active vs random, both measured on the random evaluation set: dashed, a model fit on "
    "the random-arm labels alone (picked uniformly at random, select --random-share); blue, "
    "the model fit on all labels. Compare them at equal label counts."
)
NO_ARM_NOTE = (
    "No random arm: select with --random-share 0.1 (or random_share in the pipeline file) "
    "to compare active learning with random sampling honestly, on the evaluation set."
)


def baseline(project: Project) -> dict:
    """Active vs random for the dashboard (fetched after the page shows).

    Needs a random evaluation set with labels and a random arm. ``curves`` holds,
    per finished round, two models fit now and scored on the evaluation labels:
    ``active`` on every label selected up to that round, ``random`` on the
    random-arm labels alone, each with its label count and Wilson 95 % interval.
    """
    key = ("baseline", *_label_state(project))
    return _cached(key, lambda: _arm_comparison(project))


def _arm_comparison(project: Project) -> dict:
    from threadpoolctl import threadpool_limits

    from labelwise.embed import load_features
    from labelwise.loop._evalset import NO_EVAL_NOTE, eval_ids, score_on_eval
    from labelwise.loop._project import RANDOM_ARM
    from labelwise.models import make_model

    out = {"note": NO_ARM_NOTE, "curves": []}
    reserved = eval_ids(project)
    labels = project.current_labels()
    if not any(sid in labels for sid in reserved):
        out["note"] = NO_EVAL_NOTE + "; active vs random needs labels on one"
        return out
    if project.task != "classification" or project.latest_artifact("features") is None:
        return out
    with project.session() as s:
        picks = s.execute(
            select(SelectionRow.sample_id, SelectionRow.strategy, Round.number)
            .join(Round, Round.id == SelectionRow.round_id)
            .order_by(Round.number, SelectionRow.position)
        ).all()
    if not any(strategy == RANDOM_ARM for _, strategy, _ in picks):
        return out
    out["note"] = ARM_NOTE
    X, ids, _ = load_features(project)
    where = {int(v): i for i, v in enumerate(ids)}
    classes = project.classes()
    art = project.latest_artifact("model")
    model_name = (art.info.get("model") if art else None) or "logreg"
    rounds = sorted({n for _, _, n in picks})
    for rnd in rounds:
        row = {"round": rnd}
        for name, keep in (("active", lambda st: True), ("random", lambda st: st == RANDOM_ARM)):
            sids = [
                sid
                for sid, st, n in picks
                if n <= rnd
                and keep(st)
                and sid in labels
                and sid in where
                and labels[sid] in classes
            ]
            y = np.asarray([labels[sid] for sid in sids], dtype=object)
            if len(set(y.tolist())) < 2:
                row[name] = None
                continue
            pos = np.asarray([where[sid] for sid in sids])
            with threadpool_limits(1, user_api="blas"):
                m = make_model(model_name, classes=classes, random_state=0).fit(X[pos], y)
                ev = score_on_eval(m, X, ids, labels, reserved, classes, n_boot=200)
            row[name] = (
                None
                if ev is None
                else {
                    "labels": len(sids),
                    "metric": ev["metric"],
                    "metric_ci": ev["metric_ci"],
                    "n_eval": ev["n_eval"],
                }
            )
        out["curves"].append(row)
    return out


def _accepted(project: Project):
    """Features and every accepted label in the order given, aligned.

    Returns ``(X_labeled, rows)``: ``rows[i]`` (uid, sample_id, value, review_status)
    is the label of row ``i`` of ``X_labeled``. Labels of samples without features
    (imported after the last ``embed``) are left out, and so are the labels of the
    random evaluation set: no model (label issues, CROWDLAB) is fit on them.
    """
    from labelwise.embed import load_features

    if project.latest_artifact("features") is None:
        raise InvalidInputError("no features yet: run 'labelwise embed DIR' first.")
    X, ids, _ = load_features(project)
    with project.session() as s:
        rows = s.execute(
            select(Sample.uid, Label.sample_id, Label.value, Label.review_status)
            .join(Sample, Sample.id == Label.sample_id)
            .where(Label.status == "accepted", Sample.split != "eval")
            .order_by(Label.id)
        ).all()
    where = {int(v): i for i, v in enumerate(ids)}
    rows = [r for r in rows if r.sample_id in where]
    return X[[where[r.sample_id] for r in rows]], rows


SORTS = {"id", "uid", "score", "round", "label"}


def explorer(
    project: Project,
    *,
    sort: str = "score",
    order: str = "desc",
    label: str | None = None,
    q: str | None = None,
    round: int | None = None,
    state: str | None = None,
    scored_by: str | None = None,
    offset: int = 0,
    limit: int = 50,
    admin: bool = False,
) -> dict:
    """Every sample with its label and selection scores; sortable, filterable, paged.

    Scores of different strategies are on different scales (a cold-start distance
    of 1.5 next to margins of at most 1), so ``sort="score"`` ranks the scores of one
    strategy, ``scored_by`` (default: the latest round's); rows it did not score
    come after them. ``score_kinds`` lists the strategies with scores.

    For ``admin`` each item also says whether it belongs to the random evaluation
    set (``eval``); nobody else can tell those samples from the others.
    """
    if sort not in SORTS:
        raise InvalidInputError(f"sort must be one of {sorted(SORTS)}, got {sort!r}.")
    if order not in ("asc", "desc"):
        raise InvalidInputError(f"order must be 'asc' or 'desc', got {order!r}.")
    if state not in (None, "", "labeled", "unlabeled", "selected"):
        raise InvalidInputError("state must be labeled, unlabeled or selected.")
    limit = max(1, min(int(limit), 500))
    lab = select(Label.sample_id, Label.value).where(Label.status == "accepted").subquery()
    sel = (
        select(
            SelectionRow.sample_id,
            SelectionRow.score,
            SelectionRow.reason,
            SelectionRow.strategy,
            Round.number.label("round"),
        )
        .join(Round, Round.id == SelectionRow.round_id)
        .subquery()
    )
    query = (
        select(
            Sample.id,
            Sample.uid,
            Sample.text,
            Sample.uri,
            lab.c.value,
            sel.c.score,
            sel.c.round,
            sel.c.reason,
            sel.c.strategy,
            Sample.split,
        )
        .outerjoin(lab, lab.c.sample_id == Sample.id)
        .outerjoin(sel, sel.c.sample_id == Sample.id)
    )
    filters = []
    if label:
        filters.append(lab.c.value == label)
    if q:
        like = f"%{q}%"
        filters.append(or_(Sample.uid.like(like), Sample.text.like(like)))
    if round is not None:
        filters.append(sel.c.round == round)
    if state == "labeled":
        filters.append(lab.c.value.is_not(None))
    elif state == "unlabeled":
        filters.append(lab.c.value.is_(None))
    elif state == "selected":
        filters.append(and_(sel.c.round.is_not(None), lab.c.value.is_(None)))
    if filters:
        query = query.where(*filters)
    kinds, scored_by = _score_kinds(project, scored_by)
    col = {
        "id": Sample.id,
        "uid": Sample.uid,
        "score": case((sel.c.strategy == scored_by, sel.c.score), else_=None),
        "round": sel.c.round,
        "label": lab.c.value,
    }[sort]
    key = col.desc().nulls_last() if order == "desc" else col.asc().nulls_last()
    with project.session() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.execute(query.order_by(key, Sample.id).offset(max(0, offset)).limit(limit)).all()
    items = [
        {
            "id": r.id,
            "uid": r.uid,
            "text": (r.text or "")[:200] or None,
            "has_media": bool(r.uri),
            "label": r.value,
            "score": r.score,
            "round": r.round,
            "reason": r.reason,
            "strategy": r.strategy,
            **({"eval": r.split == "eval"} if admin else {}),
        }
        for r in rows
    ]
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "sort": sort,
        "order": order,
        "scored_by": scored_by,
        "score_kinds": kinds,
        "items": items,
        "classes": [c["name"] for c in class_table(project) if c["status"] == "active"],
    }


def _score_kinds(project: Project, scored_by: str | None) -> tuple[list[dict], str | None]:
    """The strategies that scored samples (``{"strategy", "n"}``) and the one to sort by."""
    with project.session() as s:
        counts = dict(
            s.execute(
                select(SelectionRow.strategy, func.count()).group_by(SelectionRow.strategy)
            ).all()
        )
        latest = s.scalar(
            select(SelectionRow.strategy)
            .join(Round, Round.id == SelectionRow.round_id)
            .order_by(Round.number.desc())
            .limit(1)
        )
    kinds = [{"strategy": k, "n": n} for k, n in sorted(counts.items())]
    if scored_by is None:
        return kinds, latest
    if scored_by not in counts:
        raise InvalidInputError(
            f"scored_by must be a strategy that scored samples here: {sorted(counts)}; "
            f"got {scored_by!r}."
        )
    return kinds, scored_by


def embedding_map(
    project: Project, *, color: str = "label", method: str = "pca", max_points: int = 4000
) -> dict:
    """A 2-D map of the features (PCA, or UMAP when installed), one point per sample.

    Each scored point has its raw ``score``, the ``strategy`` that gave it, and
    ``score_rank``: its rank among that strategy's scores, from 0 (lowest) to 1
    (highest), the scale the map colours by (raw scales of strategies differ).
    """
    if color not in ("label", "score", "selected"):
        raise InvalidInputError(f"color must be label, score or selected, got {color!r}.")
    if method not in ("pca", "umap"):
        raise InvalidInputError(f"method must be pca or umap, got {method!r}.")
    art = project.latest_artifact("features")
    if art is None:
        raise InvalidInputError("no features yet: run 'labelwise embed DIR' first.")
    coords, ids, note = _cached(
        ("map", project.url, art.version, art.sha256, method, max_points),
        lambda: _project_2d(project, method, max_points),
    )
    with project.session() as s:
        labels = dict(
            s.execute(select(Label.sample_id, Label.value).where(Label.status == "accepted")).all()
        )
        sel = {
            sid: (score, rnd, strategy)
            for sid, score, rnd, strategy in s.execute(
                select(
                    SelectionRow.sample_id, SelectionRow.score, Round.number, SelectionRow.strategy
                ).join(Round, Round.id == SelectionRow.round_id)
            )
        }
        last_round = s.scalar(select(func.max(Round.number)))
    ranks = _ranks_within(sel)
    points = []
    for (x, y), sid in zip(coords.tolist(), ids.tolist(), strict=True):
        score, rnd, strategy = sel.get(sid, (None, None, None))
        points.append(
            {
                "id": sid,
                "x": round(x, 4),
                "y": round(y, 4),
                "label": labels.get(sid),
                "score": score,
                "strategy": strategy,
                "score_rank": ranks.get(sid),
                "selected": rnd is not None and rnd == last_round and sid not in labels,
            }
        )
    return {
        "method": method,
        "note": note,
        "color": color,
        "round": last_round,
        "features_version": art.version,
        "points": points,
    }


def _ranks_within(sel: dict) -> dict:
    """Sample id -> rank of its score among its strategy's scores, 0 (lowest) to 1."""
    groups: dict = {}
    for sid, (score, _, strategy) in sel.items():
        if score is not None and np.isfinite(score):
            groups.setdefault(strategy, []).append((score, sid))
    ranks = {}
    for members in groups.values():
        members.sort()
        n = len(members)
        for i, (_, sid) in enumerate(members):
            ranks[sid] = round(i / (n - 1), 4) if n > 1 else 1.0
    return ranks


def _project_2d(project: Project, method: str, max_points: int):
    from labelwise.embed import load_features

    X, ids, _ = load_features(project)
    note = ""
    if len(ids) > max_points:
        keep = np.sort(np.random.default_rng(0).choice(len(ids), size=max_points, replace=False))
        X, ids = X[keep], ids[keep]
        note = f"a seeded sample of {max_points} points"
    if method == "umap":
        try:
            import umap  # optional
        except ImportError:
            raise InvalidInputError(
                "UMAP is not installed: pip install umap-learn (PCA needs nothing)."
            ) from None
        coords = umap.UMAP(random_state=0).fit_transform(X)
    else:
        from sklearn.decomposition import PCA

        n = min(2, X.shape[1], X.shape[0])
        coords = PCA(n_components=n, random_state=0).fit_transform(X)
        if coords.shape[1] < 2:
            coords = np.column_stack([coords, np.zeros(len(coords))])
    return np.asarray(coords, dtype=float), np.asarray(ids, dtype=np.int64), note


def quality(project: Project, *, method: str = "majority") -> dict:
    """Per-annotator accuracy on gold, agreement (Cohen's and Fleiss' kappa), flags, consensus."""
    from labelwise import quality as q
    from labelwise.annotate._records import gold_answers, label_records

    if method not in ("majority", "crowdlab"):
        raise InvalidInputError(f"method must be majority or crowdlab, got {method!r}.")
    records = label_records(project)
    gold = gold_answers(project)
    out = {
        "method": method,
        "n_labels": int(len(records)),
        "annotators": q.annotator_report(records, gold) if len(records) else [],
        "pairs": q.pairwise_kappa(records) if len(records) else [],
        "fleiss": q.fleiss_kappa(records) if len(records) else None,
        "consensus": [],
    }
    multi = records[~records["gold"]]
    multi = multi[multi.groupby("sample")["annotator"].transform("nunique") >= 2]
    if len(multi):
        if method == "crowdlab":
            cons = _crowdlab(project, multi)
            out["crowdlab_annotators"] = list(cons.attrs.get("annotator_quality", []))
        else:
            cons = q.majority_vote(multi)
        out["consensus"] = _records(cons)
    return out


def _crowdlab(project: Project, multi):
    """CROWDLAB with out-of-fold probabilities over the labeled samples (not in-sample ones)."""
    from labelwise import quality as q

    Xl, rows = _accepted(project)
    y = np.asarray([r.value for r in rows], dtype=object)
    classes, counts = np.unique(y, return_counts=True) if len(y) else ([], [])
    if len(classes) < 2 or min(counts) < 2:
        raise InvalidInputError(
            "CROWDLAB needs at least 2 labels of each of 2+ classes; use majority vote for now."
        )
    names = [str(c) for c in classes]
    proba, _ = _out_of_fold(project, Xl, y, names)  # columns in the order of ``names``
    pos = {r.uid: i for i, r in enumerate(rows)}
    samples = [u for u in sorted(set(multi["sample"])) if u in pos]
    return q.crowdlab_consensus(
        multi[multi["sample"].isin(samples)],
        proba[[pos[u] for u in samples]],
        names,
        samples,
    )


def _out_of_fold(project: Project, X, labels, names: list[str]):
    """Out-of-fold probabilities of the project's current model on these labels.

    The model is the one the latest ``train`` stored (a clone refit on each fold's
    training part, on the current features); before any training, logistic
    regression, what ``train`` fits by default. Returns ``(proba, model)`` where
    ``model`` says which: ``{"version", "name"}``.
    """
    from threadpoolctl import threadpool_limits

    from labelwise import quality as q
    from labelwise.loop._project import _load_model
    from labelwise.models import make_model

    fitted, art = _load_model(project)
    if fitted is None:
        estimator = make_model("logreg", classes=names, random_state=0).estimator
        which = {"version": None, "name": "logreg"}
    else:
        estimator = fitted.estimator
        which = {"version": art.version, "name": art.info.get("model")}
    with threadpool_limits(1, user_api="blas"):  # small fits: threads only add overhead
        proba = q.out_of_fold_proba(X, labels, names, model=estimator, cv=5, random_state=0)
    return proba, which


def _records(df) -> list[dict]:
    import pandas as pd

    rows = df.to_dict(orient="records")
    for r in rows:
        for k, v in list(r.items()):
            if isinstance(v, float) and not np.isfinite(v):
                r[k] = None
            elif isinstance(v, np.generic):
                r[k] = v.item()
            elif v is pd.NaT:
                r[k] = None
    return rows


def label_issues(project: Project, *, limit: int = 200) -> dict:
    """Suspected wrong labels: the project model's out-of-fold probabilities (cleanlab).

    The probabilities are those of the project's current model (see
    :func:`_out_of_fold`), so a confidence here means what it means on the label
    page; ``confidence`` is the out-of-fold probability of the suggested class and
    ``quality`` that of the given label.
    """
    model = project.latest_artifact("model")
    key = ("issues", limit, model.version if model else None, *_label_state(project))
    return _cached(key, lambda: _find_issues(project, limit))


def _find_issues(project: Project, limit: int) -> dict:
    import warnings

    from labelwise import quality as q

    if project.task != "classification":
        raise InvalidInputError("label issues are found for classification projects.")
    Xl, rows = _accepted(project)
    classes = sorted({r.value for r in rows})
    if len(rows) < 10 or len(classes) < 2:
        return {
            "n_labels": len(rows),
            "issues": [],
            "model": None,
            "note": "needs 10+ labels of 2+ classes",
        }
    labels = [r.value for r in rows]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proba, model = _out_of_fold(project, Xl, labels, classes)
        found = q.issues_from_proba(labels, proba, classes)
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if model["version"] is None:
        notes.insert(0, "No model trained yet: logistic regression, the default of train.")
    issues = []
    for rec in found.head(limit).to_dict(orient="records"):
        r = rows[int(rec["index"])]
        issues.append(
            {
                "uid": r.uid,
                "sample_id": r.sample_id,
                "given": rec["given"],
                "suggested": rec["suggested"],
                "confidence": float(rec["confidence"]),
                "quality": float(rec["quality"]),
                "review_status": r.review_status,
            }
        )
    return {"n_labels": len(rows), "issues": issues, "model": model, "note": " ".join(notes)}


def audit(
    project: Project,
    *,
    user: str | None = None,
    kind: str | None = None,
    sample: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> dict:
    """The audit log (the ``event`` table), newest first, filtered and paged.

    Parameters
    ----------
    user : str, optional
        Events made by this user (``actor``) or about this account (``payload.name``:
        accounts added or changed, failed logins with this name as typed).
    kind : str, optional
        An event kind (``label.submit``) or a family of them (``label``: every
        ``label.*``).
    sample : int, optional
        Events about this sample (by its database id, as in ``/samples/{id}``): those
        naming it, one of its labels or one of its assignments.
    offset, limit : int
        Paging; ``limit`` at most 500.
    """
    from labelwise.store._models import Assignment, Event

    limit = max(1, min(int(limit), 500))
    offset = max(0, int(offset))
    filters = []
    if user:
        filters.append(or_(Event.actor == user, Event.payload["name"].as_string() == user))
    if kind:
        family = kind.rstrip(".").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        filters.append(or_(Event.kind == kind, Event.kind.like(family + ".%", escape="\\")))
    if sample is not None:
        filters.append(
            or_(
                Event.payload["sample_id"].as_integer() == sample,
                Event.payload["label_id"]
                .as_integer()
                .in_(select(Label.id).where(Label.sample_id == sample)),
                Event.payload["assignment_id"]
                .as_integer()
                .in_(select(Assignment.id).where(Assignment.sample_id == sample)),
            )
        )
    query = select(Event).where(*filters)
    with project.session() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.scalars(query.order_by(Event.id.desc()).offset(offset).limit(limit)).all()
        kinds = sorted(s.scalars(select(Event.kind).distinct()))
    events = []
    for e in rows:
        payload = e.payload if isinstance(e.payload, dict) else {"value": e.payload}
        sid = payload.get("sample_id")
        events.append(
            {
                "id": e.id,
                "at": e.created_at,
                "kind": e.kind,
                "actor": e.actor,
                "sample_id": sid if isinstance(sid, int) else None,
                "payload": payload,
            }
        )
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "filters": {"user": user, "kind": kind, "sample": sample},
        "kinds": kinds,
        "events": events,
    }
