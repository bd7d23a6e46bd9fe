"""What each page shows, as plain dicts: the HTML page renders it, its JSON twin returns it."""

from __future__ import annotations

import threading
from datetime import timedelta

import numpy as np
from sqlalchemy import and_, func, or_, select

from labelwise.annotate import class_table, queue_counts
from labelwise.errors import InvalidInputError
from labelwise.store import Project
from labelwise.store._models import Label, Round, Sample, SelectionRow, now

__all__ = ["baseline", "dashboard", "explorer", "embedding_map", "quality", "label_issues"]

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
    """A key that changes whenever a label changes."""
    with project.session() as s:
        return tuple(s.execute(select(func.count(Label.id), func.max(Label.id))).one())


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
        "status": st,
        "classes": class_table(project),
        "queue": queue_counts(project),
        "throughput": sorted(throughput, key=lambda r: -r["labels"]),
        "curve": [
            {
                "round": r["round"],
                "labels": r["n_labeled_before"] + r["n_selected"],
                "metric": r["metric"],
                "metric_name": r.get("metric_name"),
                "strategy": r["strategy"],
            }
            for r in rounds
            if r["metric"] is not None
        ],
    }


def baseline(project: Project) -> dict:
    """The random replay for the dashboard's learning curve (fetched after the page shows)."""
    key = ("baseline", *_label_state(project))
    return {"baseline": _cached(key, lambda: _random_replay(project))}


def _accepted(project: Project):
    """Features and every accepted label in the order given, aligned.

    Returns ``(X_labeled, rows)``: ``rows[i]`` (uid, sample_id, value, review_status)
    is the label of row ``i`` of ``X_labeled``. Labels of samples without features
    (imported after the last ``embed``) are left out.
    """
    from labelwise.embed import load_features

    if project.latest_artifact("features") is None:
        raise InvalidInputError("no features yet: run 'labelwise embed DIR' first.")
    X, ids, _ = load_features(project)
    with project.session() as s:
        rows = s.execute(
            select(Sample.uid, Label.sample_id, Label.value, Label.review_status)
            .join(Sample, Sample.id == Label.sample_id)
            .where(Label.status == "accepted")
            .order_by(Label.id)
        ).all()
    where = {int(v): i for i, v in enumerate(ids)}
    rows = [r for r in rows if r.sample_id in where]
    return X[[where[r.sample_id] for r in rows]], rows


def _random_replay(project: Project, seeds: int = 2) -> list[dict]:
    """The metric with the same numbers of labels drawn at random from the labeled set.

    Both curves are measured here the same way (on one held-out quarter of the
    labeled samples): "as labeled" trains on the first n labels in the order they
    came; "random" on n of them drawn at random. It is a replay on this project's own
    labels, not a fresh random sample of the pool, and says so.
    """
    from sklearn.metrics import accuracy_score
    from threadpoolctl import threadpool_limits

    from labelwise.models import make_model

    if project.task != "classification" or project.latest_artifact("features") is None:
        return []
    X, rows = _accepted(project)
    if len(rows) < 40:
        return []
    rng = np.random.default_rng(0)
    y = np.asarray([r.value for r in rows], dtype=object)
    test = np.zeros(len(rows), dtype=bool)
    test[rng.choice(len(rows), size=len(rows) // 4, replace=False)] = True
    train_order = np.flatnonzero(~test)
    sizes = np.unique(np.linspace(20, train_order.size, 5).astype(int))
    out = []
    for n in sizes:

        def score(idx):
            if len(set(y[idx])) < 2:
                return None
            m = make_model("logreg", classes=sorted(set(y)), random_state=0).fit(X[idx], y[idx])
            return float(accuracy_score(y[test], m.predict(X[test])))

        with threadpool_limits(1, user_api="blas"):  # small fits: threads only add overhead
            as_labeled = score(train_order[:n])
            rand = [score(rng.choice(train_order, size=n, replace=False)) for _ in range(seeds)]
        rand = [r for r in rand if r is not None]
        out.append(
            {
                "labels": int(n),
                "as_labeled": as_labeled,
                "random": float(np.mean(rand)) if rand else None,
            }
        )
    return out


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
    offset: int = 0,
    limit: int = 50,
) -> dict:
    """Every sample with its label and selection scores; sortable, filterable, paged."""
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
    col = {
        "id": Sample.id,
        "uid": Sample.uid,
        "score": sel.c.score,
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
        }
        for r in rows
    ]
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "sort": sort,
        "order": order,
        "items": items,
        "classes": [c["name"] for c in class_table(project) if c["status"] == "active"],
    }


def embedding_map(
    project: Project, *, color: str = "label", method: str = "pca", max_points: int = 4000
) -> dict:
    """A 2-D map of the features (PCA, or UMAP when installed), one point per sample."""
    if color not in ("label", "score", "selected"):
        raise InvalidInputError(f"color must be label, score or selected, got {color!r}.")
    if method not in ("pca", "umap"):
        raise InvalidInputError(f"method must be pca or umap, got {method!r}.")
    art = project.latest_artifact("features")
    if art is None:
        raise InvalidInputError("no features yet: run 'labelwise embed DIR' first.")
    coords, ids, note = _cached(
        ("map", art.version, method, max_points), lambda: _project_2d(project, method, max_points)
    )
    with project.session() as s:
        labels = dict(
            s.execute(select(Label.sample_id, Label.value).where(Label.status == "accepted")).all()
        )
        sel = {
            sid: (score, rnd)
            for sid, score, rnd in s.execute(
                select(SelectionRow.sample_id, SelectionRow.score, Round.number).join(
                    Round, Round.id == SelectionRow.round_id
                )
            )
        }
        last_round = s.scalar(select(func.max(Round.number)))
    points = []
    for (x, y), sid in zip(coords.tolist(), ids.tolist(), strict=True):
        score, rnd = sel.get(sid, (None, None))
        points.append(
            {
                "id": sid,
                "x": round(x, 4),
                "y": round(y, 4),
                "label": labels.get(sid),
                "score": score,
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
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    from labelwise import quality as q
    from labelwise.models import make_model

    Xl, rows = _accepted(project)
    y = np.asarray([r.value for r in rows], dtype=object)
    classes, counts = np.unique(y, return_counts=True) if len(y) else ([], [])
    if len(classes) < 2 or min(counts) < 2:
        raise InvalidInputError(
            "CROWDLAB needs at least 2 labels of each of 2+ classes; use majority vote for now."
        )
    folds = StratifiedKFold(min(5, int(min(counts))), shuffle=True, random_state=0)
    names = [str(c) for c in classes]
    proba = np.zeros((len(rows), len(names)))
    with threadpool_limits(1, user_api="blas"):
        for tr, te in folds.split(Xl, y):
            model = make_model("logreg", classes=names, random_state=0).fit(Xl[tr], y[tr])
            proba[te] = model.predict_proba(Xl[te])  # columns in the order of ``names``
    pos = {r.uid: i for i, r in enumerate(rows)}
    samples = [u for u in sorted(set(multi["sample"])) if u in pos]
    return q.crowdlab_consensus(
        multi[multi["sample"].isin(samples)],
        proba[[pos[u] for u in samples]],
        names,
        samples,
    )


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
    """Suspected wrong labels: out-of-fold predictions that disagree with the label (cleanlab)."""
    return _cached(("issues", limit, *_label_state(project)), lambda: _find_issues(project, limit))


def _find_issues(project: Project, limit: int) -> dict:
    from labelwise import quality as q

    if project.task != "classification":
        raise InvalidInputError("label issues are found for classification projects.")
    Xl, rows = _accepted(project)
    classes = sorted({r.value for r in rows})
    if len(rows) < 10 or len(classes) < 2:
        return {"n_labels": len(rows), "issues": [], "note": "needs 10+ labels of 2+ classes"}
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = q.find_label_issues(Xl, [r.value for r in rows], classes)
    note = " ".join(str(w.message) for w in caught if issubclass(w.category, UserWarning))
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
    return {"n_labels": len(rows), "issues": issues, "note": note}
