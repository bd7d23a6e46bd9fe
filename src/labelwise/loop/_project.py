"""The labeling loop on a stored project: train, select, status and history.

``select`` writes the batch (with each pick's scores and reason) to the store in
one transaction, then to a CSV/JSONL file for annotators. Without a trained
model a model-based strategy falls back to cold-start diversity
(``k_center_greedy`` on the features) and says so.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from labelwise.embed import load_features
from labelwise.errors import InvalidInputError
from labelwise.loop._loop import COLD_START_NOTE
from labelwise.loop._stopping import DiminishingReturns
from labelwise.models import BaggingCommittee, make_model
from labelwise.store import Project, advisory_lock, atomic_write, transaction
from labelwise.store._models import Event, Label, Round, Sample, SelectionRow
from labelwise.strategies import QueryContext, get_strategy
from labelwise.strategies._registry import MODEL_NEEDS

__all__ = [
    "BatchResult",
    "train",
    "select_batch",
    "status",
    "history",
    "round_uids",
    "provenance",
]


def _labeled(project: Project, sample_ids: np.ndarray):
    """Positions (in the feature matrix) and values of every labeled sample."""
    labels = project.current_labels()
    pos = np.flatnonzero(np.isin(sample_ids, np.fromiter(labels, dtype=np.int64)))
    return pos, np.asarray([labels[int(sample_ids[p])] for p in pos], dtype=object)


def train(project: Project, *, model: str = "logreg", random_state: int = 0) -> dict:
    """Fit the model on every labeled sample; store it with its cross-validated accuracy."""
    if project.task != "classification":
        raise InvalidInputError("project training supports classification for now.")
    X, ids, fversion = load_features(project)
    pos, y = _labeled(project, ids)
    classes = project.classes()
    seen = sorted(set(y.tolist()))
    if len(seen) < 2:
        raise InvalidInputError(
            f"training needs labels of at least 2 classes; the project has {len(pos)} label(s) "
            f"of {seen or 'no'} class(es). Label more with 'labelwise labels'."
        )
    clf = make_model(model, classes=classes, random_state=random_state).fit(X[pos], y)
    metric = _cv_accuracy(model, classes, X[pos], y, random_state)
    info = {
        "model": model,
        "n_labeled": int(pos.size),
        "classes": classes,
        "features_version": fversion,
        "metric_name": "cv_accuracy",
        "metric": metric,
    }
    art = project.add_artifact("model", pickle.dumps(clf), ".pkl", info)
    _finish_rounds(project, art.version, metric, int(pos.size))
    return {"version": art.version, **info}


def _cv_accuracy(model, classes, X, y, seed) -> float | None:
    from sklearn.model_selection import StratifiedKFold

    _, counts = np.unique(y, return_counts=True)
    k = min(5, int(counts.min()))
    if k < 2:
        return None
    hits = 0
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(X, y):
        m = make_model(model, classes=classes, random_state=seed).fit(X[tr], y[tr])
        hits += int(np.sum(m.predict(X[te]) == y[te]))
    return hits / y.size


def _finish_rounds(project: Project, version: int, metric, n_labeled: int) -> None:
    """Give the metric to rounds whose every pick is labeled and that have none yet."""
    labels = project.current_labels()
    with transaction(project.session) as s:
        for rnd in s.scalars(select(Round).where(Round.metric.is_(None))):
            picked = s.scalars(
                select(SelectionRow.sample_id).where(SelectionRow.round_id == rnd.id)
            ).all()
            if picked and all(p in labels for p in picked):
                rnd.metric = metric
                rnd.metric_name = "cv_accuracy"
                rnd.note = f"model v{version} trained on {n_labeled} labels"
        s.add(Event(kind="model.train", payload={"version": version, "metric": metric}))


def _load_model(project: Project):
    art = project.latest_artifact("model")
    if art is None:
        return None, None
    with open(project.artifact_path(art), "rb") as fh:
        return pickle.load(fh), art  # our own file, checksum verified above


@dataclass
class BatchResult:
    """A stored selection."""

    round: int
    strategy: str
    cold_start: bool
    rows: list[dict]
    out: Path | None


def select_batch(
    project: Project,
    *,
    strategy: str = "margin",
    batch_size: int = 10,
    out: str | Path | None = None,
    random_state: int | None = None,
    **params,
) -> BatchResult:
    """Select the next batch from unlabeled, not-yet-selected samples and store it."""
    strat = get_strategy(strategy, **params)
    X, ids, _ = load_features(project)
    labels = project.current_labels()
    with project.session() as s:
        pending = set(s.scalars(select(SelectionRow.sample_id)))
        n_round = (s.scalar(select(func.max(Round.number))) or 0) + 1
    labeled_pos = np.flatnonzero(np.isin(ids, np.fromiter(labels, dtype=np.int64)))
    taken = np.isin(ids, np.fromiter(pending | set(labels), dtype=np.int64))
    cand = np.flatnonzero(~taken)
    if cand.size == 0:
        raise InvalidInputError(
            "nothing left to select: every sample is labeled or already in a batch."
        )
    model, art = _load_model(project)
    cold = bool(strat.needs & MODEL_NEEDS) and model is None
    if cold:
        strat = get_strategy("k_center_greedy")
    if model is not None and art.info.get("classes") != project.classes():
        raise InvalidInputError("the classes changed since the model was trained; run train.")
    ctx = QueryContext(
        candidates=cand,
        labeled=labeled_pos,
        X=X if strat.needs & {"X", "labeled"} else None,
        proba=model.predict_proba(X[cand]) if "proba" in strat.needs else None,
        probas=_committee(model, X, labeled_pos, labels, ids, random_state).predict_proba(X[cand])
        if "committee" in strat.needs
        else None,
        n_classes=len(project.classes()) or None,
        model=model if "model" in strat.needs else None,
        y_labeled=np.asarray([labels[int(ids[p])] for p in labeled_pos], dtype=object)
        if "model" in strat.needs
        else None,
    )
    sel = strat.query(ctx, batch_size, random_state)
    if cold:
        sel.note = COLD_START_NOTE
    picks = sel.picks()
    pick_sids = [int(ids[p.index]) for p in picks]
    with project.session() as s:  # uids of the picks only, not of the whole pool
        uid_of = dict(
            s.execute(select(Sample.id, Sample.uid).where(Sample.id.in_(pick_sids))).all()
        )
    version = None if art is None else art.version
    first = next(iter(sel.criteria), None)
    rows = []
    for p in picks:
        score = p.raw.get(first) if first else next(iter(p.raw.values()), None)
        rows.append(
            {
                "id": uid_of[int(ids[p.index])],
                "score": score,
                "reason": p.reason,
                "strategy": sel.strategy,
                "round": n_round,
                "model_version": version,
                "position": p.position,
                "_sid": int(ids[p.index]),
                "_pick": p,
            }
        )
    with transaction(project.session) as s:
        # Another select may have committed since we read the pool: re-check under the lock.
        advisory_lock(s, "select")
        chosen = [r["_sid"] for r in rows]
        clash = s.scalar(
            select(func.count()).select_from(SelectionRow).where(SelectionRow.sample_id.in_(chosen))
        )
        latest = s.scalar(select(func.max(Round.number))) or 0
        if clash or latest >= n_round:
            raise InvalidInputError(
                "another select ran at the same time and took some of these samples; "
                "run select again."
            )
        rnd = Round(
            number=n_round,
            strategy=sel.strategy,
            model_version=version,
            batch_size=batch_size,
            n_labeled=len(labels),
            note=COLD_START_NOTE if cold else None,
        )
        s.add(rnd)
        s.flush()
        for r in rows:
            p = r["_pick"]
            s.add(
                SelectionRow(
                    round_id=rnd.id,
                    sample_id=r["_sid"],
                    position=p.position,
                    strategy=sel.strategy,
                    model_version=version,
                    score=r["score"],
                    scores=p.raw,
                    normalized=p.normalized,
                    reason=p.reason,
                )
            )
        s.add(
            Event(
                kind="round.select",
                payload={
                    "round": n_round,
                    "strategy": sel.strategy,
                    "n": len(rows),
                    "cold_start": cold,
                },
            )
        )
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    out_path = None
    if out is not None:
        out_path = Path(out)
        atomic_write(out_path, _batch_file(clean, out_path))
    return BatchResult(n_round, sel.strategy, cold, clean, out_path)


def _committee(model, X, labeled_pos, labels, ids, seed):
    y = np.asarray([labels[int(ids[p])] for p in labeled_pos], dtype=object)
    return BaggingCommittee(model, random_state=seed).fit(X[labeled_pos], y)


def _batch_file(rows: list[dict], path: Path) -> bytes:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    buf = io.StringIO()
    w = csv.DictWriter(
        buf, fieldnames=["id", "score", "reason", "strategy", "round", "model_version", "position"]
    )
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def status(project: Project) -> dict:
    """Counts per class and state, rounds with their metric, last selection, stopping signals."""
    labels = project.current_labels()
    with project.session() as s:
        n_samples = s.scalar(select(func.count()).select_from(Sample)) or 0
        pending = set(s.scalars(select(SelectionRow.sample_id))) - set(labels)
        n_label_rows = s.scalar(select(func.count()).select_from(Label)) or 0
    per_class = {c: 0 for c in project.classes()}
    for v in labels.values():
        per_class[v] = per_class.get(v, 0) + 1
    rounds = [_round_dict(r) for r in project.rounds()]
    finished = [r for r in rounds if r["metric"] is not None]
    feats, model = project.latest_artifact("features"), project.latest_artifact("model")
    rule = DiminishingReturns(k=2, delta=0.005, metric="cv_accuracy")
    signal = rule.check([_Hist(r["metric"]) for r in finished]) if finished else None
    return {
        "project": str(project.path),
        "task": project.task,
        "n_samples": int(n_samples),
        "n_labeled": len(labels),
        "n_unlabeled": int(n_samples - len(labels)),
        "n_pending": len(pending),
        "n_label_events": int(n_label_rows),
        "labels_per_class": per_class,
        "rounds": finished,
        "open_rounds": [r for r in rounds if r["metric"] is None],
        "features_version": None if feats is None else feats.version,
        "model_version": None if model is None else model.version,
        "model_metric": None if model is None else model.info.get("metric"),
        "stopping": {"diminishing_returns": signal},
    }


@dataclass
class _Hist:
    metric: float | None


def _round_dict(r: Round) -> dict:
    return {
        "round": r.number,
        "strategy": r.strategy,
        "batch_size": r.batch_size,
        "n_labeled_before": r.n_labeled,
        "model_version": r.model_version,
        "metric_name": r.metric_name,
        "metric": r.metric,
        "note": r.note,
        "created_at": r.created_at.isoformat() if r.created_at else None,
    }


def export_round(project: Project, number: int, out: str | Path) -> Path:
    """Write a stored round's batch (as ``select --out`` would have) to ``out`` again."""
    with project.session() as s:
        rows = s.execute(
            select(Sample.uid, SelectionRow)
            .join(SelectionRow, SelectionRow.sample_id == Sample.id)
            .join(Round, Round.id == SelectionRow.round_id)
            .where(Round.number == number)
            .order_by(SelectionRow.position)
        ).all()
    if not rows:
        raise InvalidInputError(f"there is no round {number} in {project.path}.")
    clean = [
        {
            "id": uid,
            "score": r.score,
            "reason": r.reason,
            "strategy": r.strategy,
            "round": number,
            "model_version": r.model_version,
            "position": r.position,
        }
        for uid, r in rows
    ]
    path = Path(out)
    atomic_write(path, _batch_file(clean, path))
    return path


def round_uids(project: Project, number: int) -> list[str]:
    """Stable ids of the samples selected in round ``number``, in pick order."""
    with project.session() as s:
        return list(
            s.scalars(
                select(Sample.uid)
                .join(SelectionRow, SelectionRow.sample_id == Sample.id)
                .join(Round, Round.id == SelectionRow.round_id)
                .where(Round.number == number)
                .order_by(SelectionRow.position)
            )
        )


def provenance(project: Project, uid: str) -> dict:
    """Everything about one sample: its selections and its labels.

    Each selection says the round, strategy, model version, scores and reason;
    each label its value, annotator, time and status.
    """
    with project.session() as s:
        sample = s.scalars(select(Sample).where(Sample.uid == uid)).first()
        if sample is None:
            raise InvalidInputError(f"no sample with id {uid!r} in {project.path}.")
        sels = s.execute(
            select(SelectionRow, Round.number)
            .join(Round, Round.id == SelectionRow.round_id)
            .where(SelectionRow.sample_id == sample.id)
            .order_by(Round.number)
        ).all()
        labels = s.scalars(select(Label).where(Label.sample_id == sample.id).order_by(Label.id))
        return {
            "id": uid,
            "selections": [
                {
                    "round": number,
                    "strategy": r.strategy,
                    "model_version": r.model_version,
                    "position": r.position,
                    "scores": r.scores,
                    "normalized": r.normalized,
                    "reason": r.reason,
                    "at": r.created_at.isoformat(),
                }
                for r, number in sels
            ],
            "labels": [
                {
                    "label": lab.value,
                    "annotator": lab.annotator,
                    "status": lab.status,
                    "duration": lab.duration,
                    "source": lab.source,
                    "at": lab.created_at.isoformat(),
                }
                for lab in labels
            ],
        }


def history(project: Project) -> list[dict]:
    """One entry per round: strategy, model version, metric, how many picks are labeled."""
    labels = project.current_labels()
    out = []
    with project.session() as s:
        for r in s.scalars(select(Round).order_by(Round.number)):
            picked = s.scalars(
                select(SelectionRow.sample_id).where(SelectionRow.round_id == r.id)
            ).all()
            d = _round_dict(r)
            d["n_selected"] = len(picked)
            d["n_selected_labeled"] = sum(p in labels for p in picked)
            out.append(d)
    return out
