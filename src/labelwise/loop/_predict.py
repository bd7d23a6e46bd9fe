"""``labelwise predict``: a stored model's predictions for every sample, as a table.

One row per sample with features: ``id``, ``predicted``, one ``proba_<class>``
column per class (in the project's class order), the project strategy's
``score`` (its first criterion, as ``select`` records it; higher = label first)
and ``split``: ``eval`` (reserved for the random evaluation set), ``labeled``
(a label the model may be fit on) or ``pool``. Teams use it for pre-labels and
for checking the model by hand. CSV, JSON Lines or Parquet by the file's
extension; CSV cells are escaped against formula injection.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from labelwise.embed import load_features
from labelwise.errors import InvalidInputError
from labelwise.loop._evalset import eval_ids
from labelwise.store import Project, atomic_write
from labelwise.store._models import Artifact

__all__ = ["PredictResult", "predict", "project_strategy"]

#: Rounds whose strategy is not the project's own choice.
_NOT_A_STRATEGY = {"random_arm", "eval_set"}


@dataclass
class PredictResult:
    """What ``predict`` wrote."""

    path: Path
    n_rows: int
    model_version: int
    strategy: str
    columns: list[str]
    splits: dict[str, int]


def project_strategy(project: Project) -> str:
    """The strategy of the latest round that was not a cold start or random arm (else margin)."""
    from labelwise.loop._loop import COLD_START_NOTE

    for rnd in reversed(project.rounds()):
        if rnd.strategy in _NOT_A_STRATEGY or (rnd.note or "").startswith(COLD_START_NOTE):
            continue
        return rnd.strategy
    return "margin"


def _model(project: Project, version: int | None):
    with project.session() as s:
        q = select(Artifact).where(Artifact.kind == "model")
        if version is not None:
            q = q.where(Artifact.version == version)
        art = s.scalars(q.order_by(Artifact.version.desc())).first()
    if art is None:
        if version is None:
            raise InvalidInputError(
                f"{project.path} has no trained model yet; run 'labelwise train' first."
            )
        with project.session() as s:
            have = list(
                s.scalars(
                    select(Artifact.version)
                    .where(Artifact.kind == "model")
                    .order_by(Artifact.version)
                )
            )
        raise InvalidInputError(
            f"--model-version {version}: no such model; the project has "
            f"{'versions ' + ', '.join(map(str, have)) if have else 'none'}."
        )
    with open(project.artifact_path(art), "rb") as fh:
        return pickle.load(fh), art  # our own file, its checksum verified above


def predict(
    project: Project,
    out: str | Path,
    *,
    model_version: int | None = None,
    random_state: int = 0,
) -> PredictResult:
    """Write every sample's prediction, class probabilities, score and split to ``out``."""
    from labelwise._validation import check_writable
    from labelwise.io._formats import TABLE_FORMATS, table_bytes

    path = check_writable(out, flag="--out", suffixes=tuple(TABLE_FORMATS))
    model, art = _model(project, model_version)
    X, ids, fversion = load_features(project)
    if art.info.get("features_version") not in (None, fversion):
        raise InvalidInputError(
            f"model v{art.version} was trained on features v{art.info['features_version']}, "
            f"but the project's features are now v{fversion}; run 'labelwise train' again."
        )
    classes = [str(c) for c in art.info.get("classes") or getattr(model, "classes_", [])]
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    if proba.shape[1] != len(classes):
        raise InvalidInputError(
            f"model v{art.version} gives {proba.shape[1]} probabilities but lists "
            f"{len(classes)} classes; run 'labelwise train' again."
        )
    predicted = [classes[k] for k in proba.argmax(axis=1)]
    strategy = project_strategy(project)
    score = _scores(project, strategy, model, X, ids, proba, random_state)
    reserved = eval_ids(project)
    labeled = project.current_labels()
    splits = [
        "eval" if sid in reserved else "labeled" if sid in labeled else "pool"
        for sid in ids.tolist()
    ]
    sids, uids = project.sample_ids()
    uid_of = dict(zip(sids.tolist(), uids.tolist(), strict=True))
    columns = ["id", "predicted", *[f"proba_{c}" for c in classes], "score", "split"]
    rows = [
        [
            uid_of[int(sid)],
            predicted[i],
            *(float(v) for v in proba[i]),
            None if score is None else float(score[i]),
            splits[i],
        ]
        for i, sid in enumerate(ids.tolist())
    ]
    atomic_write(Path(path), table_bytes(columns, rows, path))
    counts = {k: splits.count(k) for k in ("labeled", "eval", "pool")}
    return PredictResult(Path(path), len(rows), art.version, strategy, columns, counts)


def _scores(project, strategy, model, X, ids, proba, random_state):
    """The strategy's first criterion for every sample (all of them as candidates)."""
    from labelwise.loop._evalset import training_labels
    from labelwise.strategies import QueryContext, get_strategy

    strat = get_strategy(strategy)
    labels = training_labels(project)
    labeled_pos = np.flatnonzero(np.isin(ids, np.fromiter(labels, dtype=np.int64)))
    everyone = np.arange(ids.size)
    probas = None
    if "committee" in strat.needs:
        from labelwise.loop._project import _committee

        probas = _committee(model, X, labeled_pos, labels, ids, random_state).predict_proba(X)
    ctx = QueryContext(
        candidates=everyone,
        labeled=labeled_pos,
        X=X if strat.needs & {"X", "labeled"} else None,
        proba=proba if "proba" in strat.needs else None,
        probas=probas,
        n_classes=proba.shape[1],
        model=model if "model" in strat.needs else None,
        y_labeled=np.asarray([labels[int(ids[p])] for p in labeled_pos], dtype=object)
        if "model" in strat.needs
        else None,
    )
    sel = strat.query(ctx, 1, random_state)
    first = next(iter(sel.criteria), None)
    if first is None:
        return None
    return np.asarray(sel.criteria[first], dtype=np.float64)
