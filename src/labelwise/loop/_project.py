"""The labeling loop on a stored project: train, select, status and history.

``select`` writes the batch (with each pick's scores and reason) to the store in
one transaction, then to a CSV/JSONL file for annotators. Without a trained
model a model-based strategy falls back to cold-start diversity
(``k_center_greedy`` on the features) and says so.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from labelwise._validation import check_writable, normalize_id
from labelwise.embed import load_features
from labelwise.errors import ConflictError, InvalidInputError, shorten
from labelwise.io._formats import TABLE_FORMATS, table_bytes
from labelwise.loop._detections import prediction_input
from labelwise.loop._evalset import (
    NO_EVAL_NOTE,
    eval_ids,
    eval_set_info,
    score_on_eval,
    training_labels,
)
from labelwise.loop._intervals import unlabeled_accuracy_interval
from labelwise.loop._loop import COLD_START_NOTE
from labelwise.loop._stopping import DiminishingReturns
from labelwise.models import make_committee, make_model
from labelwise.store import Project, advisory_lock, atomic_write, transaction
from labelwise.store._models import Event, Label, Round, Sample, SelectionRow
from labelwise.strategies import QueryContext, get_strategy
from labelwise.strategies._registry import MODEL_NEEDS

__all__ = [
    "BatchResult",
    "train",
    "select_batch",
    "open_round",
    "check_no_open_round",
    "content_columns",
    "status",
    "history",
    "round_uids",
    "provenance",
]


def _labeled(
    project: Project,
    sample_ids: np.ndarray,
    reserved: set[int] | None = None,
    labels: dict[int, str] | None = None,
):
    """Positions (in the feature matrix) and values of every label a model may be fit on.

    Labels of the random evaluation set (``reserved``) are left out: no model is
    ever fit on them. ``labels``: the project's current labels, if already read.
    """
    labels, _ = _split_retired(project, training_labels(project, reserved, labels))
    pos = np.flatnonzero(np.isin(sample_ids, np.fromiter(labels, dtype=np.int64)))
    return pos, np.asarray([labels[int(sample_ids[p])] for p in pos], dtype=object)


def _split_retired(project: Project, labels: dict[int, str]) -> tuple[dict[int, str], int]:
    """The labels of active classes, and how many labels of retired classes were left out.

    A retired class is no longer offered and models know only the active classes: its
    labels stay (and are exported under their class name), but no model is fit or
    scored on them and strategies do not see them; their samples count as labeled, so
    they are not selected again.
    """
    active = set(project.classes())
    kept = {sid: v for sid, v in labels.items() if v in active}
    return kept, len(labels) - len(kept)


def train(project: Project, *, model="logreg", random_state: int = 0) -> dict:
    """Fit the model on every label outside the evaluation set; store it with its metrics.

    ``model`` is a registered name (see :func:`labelwise.models.model_names`) or, from
    Python, any object with ``fit`` and ``predict_proba`` (copied, never fitted itself).

    ``metric`` is the accuracy on the labeled part of the random evaluation set
    (``metric_ci``: Wilson 95 % interval; ``f1``/``f1_ci``: macro-F1 with a bootstrap
    interval; ``n_eval``: evaluation labels used). ``cv_metric`` is the
    cross-validated accuracy on the selected labels: biased by the selection, kept
    for reference. ``pool_metric`` (``pool_metric_ci``) estimates the accuracy on
    the ``n_pool`` rows still unlabeled, which selection leaves easier than the
    population (see :func:`unlabeled_accuracy_interval`). Without an evaluation set
    ``metric`` is None and ``note`` says why.
    """
    if project.task != "classification":
        raise InvalidInputError("project training supports classification for now.")
    X, ids, fversion = load_features(project)
    reserved = eval_ids(project)
    labels = project.current_labels()  # one read: the model, its scores and its rounds agree
    pos, y = _labeled(project, ids, reserved, labels)
    classes = project.classes()
    seen = sorted(set(y.tolist()))
    if len(seen) < 2:
        raise InvalidInputError(
            f"training needs labels of at least 2 classes; the project has {len(pos)} label(s) "
            f"of {seen or 'no'} class(es). Label more with 'labelwise labels'."
        )
    clf = make_model(model, classes=classes, random_state=random_state).fit(X[pos], y)
    cv = _cv_accuracy(model, classes, X[pos], y, random_state)
    n_retired = _split_retired(project, labels)[1]
    ev = score_on_eval(clf, X, ids, labels, reserved, classes)
    n_pool = int(ids.size - np.isin(ids, np.fromiter(labels, dtype=np.int64)).sum())
    pool = _pool_estimate(ev, cv, int(pos.size), n_pool)
    if ev is not None:
        note = None
    elif reserved:
        note = "the evaluation set has no labels yet: label it to measure the model"
    else:
        note = NO_EVAL_NOTE
    info = {
        # a model object from Python (any fit + predict_proba) is recorded by its class name
        "model": model if isinstance(model, str) else type(model).__name__,
        "n_labeled": int(pos.size),
        "classes": classes,
        "features_version": fversion,
        "metric_name": "eval_accuracy" if ev else None,
        "metric": ev["metric"] if ev else None,
        "metric_ci": ev["metric_ci"] if ev else None,
        "f1": ev["f1"] if ev else None,
        "f1_ci": ev["f1_ci"] if ev else None,
        "n_eval": ev["n_eval"] if ev else 0,
        "eval_set_size": len(reserved),
        "cv_metric": cv,
        "pool_metric": pool[0] if pool else None,
        "pool_metric_ci": list(pool[1:]) if pool else None,
        "n_pool": n_pool,
        "note": note,
        "n_retired_labels": n_retired,
    }
    art = project.add_artifact("model", pickle.dumps(clf), ".pkl", info)
    _finish_rounds(project, art.version, info, ev["hits"] if ev else None, labels)
    return {"version": art.version, **info}


def _pool_estimate(
    ev: dict | None, cv: float | None, n_labeled: int, n_pool: int
) -> tuple[float, float, float] | None:
    """Accuracy on the unlabeled rows, from the evaluation set and the CV accuracy.

    None without evaluation labels, without a CV accuracy once labels were selected
    (too few labels per class), or when no row is left unlabeled.
    """
    if ev is None or n_pool == 0 or (cv is None and n_labeled):
        return None
    n_eval = ev["n_eval"]
    return unlabeled_accuracy_interval(
        round(ev["metric"] * n_eval),
        n_eval,
        round((cv or 0.0) * n_labeled),
        n_labeled,
        n_eval + n_labeled + n_pool,
    )


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


ROUND_KEYS = (
    "metric_ci",
    "f1",
    "f1_ci",
    "n_eval",
    "cv_metric",
    "pool_metric",
    "pool_metric_ci",
    "n_pool",
    "n_labeled",
    "note",
)


def _finish_rounds(
    project: Project, version: int, info: dict, hits: dict | None, labels: dict[int, str]
) -> None:
    """Give the model's metrics to rounds whose every pick is labeled and that have none yet.

    A round is finished by the first model trained after all its picks are labeled;
    it keeps that model's evaluation metric (with interval and ``n_eval``), its CV
    accuracy on the selected labels and its per-item evaluation hits. ``labels``: the
    labels the model was trained with.
    """
    n_labeled = info["n_labeled"]
    with transaction(project.session) as s:
        for rnd in ready_rounds(s, labels):
            rnd.metric = info["metric"]
            rnd.metric_name = info["metric_name"]
            rnd.note = f"model v{version} trained on {n_labeled} labels"
            rnd.info = {
                **{k: v for k, v in (rnd.info or {}).items() if k == "external"},
                "trained_version": version,
                **{k: info.get(k) for k in ROUND_KEYS},
                "hits": _pack_hits(hits),
            }
        s.add(
            Event(
                kind="model.train",
                payload={
                    "version": version,
                    "metric": info["metric"],
                    "metric_ci": info["metric_ci"],
                    "n_eval": info["n_eval"],
                    "cv_metric": info["cv_metric"],
                },
            )
        )


def ready_rounds(s, labels) -> Iterator[Round]:
    """Rounds not yet scored whose every pick is labeled, oldest first, in session ``s``."""
    for rnd in s.scalars(select(Round).order_by(Round.number)):
        if _finished(rnd):
            continue
        picked = s.scalars(
            select(SelectionRow.sample_id).where(SelectionRow.round_id == rnd.id)
        ).all()
        if picked and all(p in labels for p in picked):
            yield rnd


def _finished(rnd: Round) -> bool:
    """A round has been scored: by a model trained after its labels (or, before 0004, a metric).

    A round of a pipeline with external predictions is scored by the file instead
    (``scored_external``, see :func:`labelwise.loop._external.finish_external_rounds`).
    """
    info = rnd.info or {}
    return bool(info.get("trained_version") or info.get("scored_external")) or (
        rnd.metric is not None
    )


def _pack_hits(hits: dict | None) -> dict | None:
    """Per-item evaluation hits as two compact JSON fields: sorted ids and a 0/1 string."""
    if not hits:
        return None
    ids = sorted(hits)
    return {"ids": ids, "bits": "".join("1" if hits[i] else "0" for i in ids)}


def _unpack_hits(packed: dict | None) -> dict[int, bool] | None:
    if not packed:
        return None
    return {int(i): b == "1" for i, b in zip(packed["ids"], packed["bits"], strict=True)}


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
    #: Ids of the images a detection strategy left out (``empty="skip"``: no prediction).
    skipped: list[str] = field(default_factory=list)


def select_batch(
    project: Project,
    *,
    strategy: str = "auto",
    batch_size: int = 10,
    out: str | Path | None = None,
    random_state: int | None = None,
    random_share: float = 0.0,
    force: bool = False,
    with_content: bool | None = None,
    proba=None,
    predictions=None,
    n_per_video: int | None = None,
    proportion: float | None = None,
    **params,
) -> BatchResult:
    """Select the next batch from unlabeled, not-yet-selected samples and store it.

    Samples of the random evaluation set are never candidates. ``random_share``
    (0 to 1) of the batch is the *random arm*: drawn uniformly at random from the
    candidates (stored with strategy ``random_arm`` and a reason saying so); the
    strategy picks the rest from the other candidates.

    While the latest round still has unlabeled picks, nothing is selected and a
    :class:`~labelwise.errors.ConflictError` says so, unless ``force`` opens
    another round anyway. ``with_content`` adds each pick's content to the rows
    and the ``out`` file (see :func:`content_columns`).

    ``proba`` (a file path, or an array of shape ``(n, C)`` / ``(T, n, C)`` in
    the row order of ``labelwise predict``) gives the class probabilities from a
    model outside labelwise instead of the stored model: see
    :mod:`labelwise.loop._external` for the formats and which strategies work.
    The file is read and checked (ids, classes, values, every candidate covered)
    before anything is stored, there is no cold start, and the round records the
    file's name and SHA-256 (``info["external"]`` and its note).

    ``predictions`` (a path) gives a detector's boxes or a segmentation model's
    maps to the detection and segmentation strategies (``detection_*``,
    ``segmentation_*``): see :mod:`labelwise.io._predictions` for the formats and
    how image ids find their samples. It is read and checked before anything is
    stored; the round records its name and SHA-256 (``info["predictions"]``), and
    the images an ``empty="skip"`` strategy left out (``BatchResult.skipped``).
    Without embeddings those strategies score every sample (no ``embed`` needed),
    unless their selector reads them (``k_center_greedy``, ``weighted`` with novelty).

    ``n_per_video`` (a count) or ``proportion`` (a fraction of each video's
    candidate frames, rounded half up) select per video instead of ``batch_size``
    in all: the strategy runs inside each video (its frames are the candidates;
    features and labels stay whole), see :mod:`labelwise.strategies._groups`.
    Samples that are not video frames form one group, ``(no video)``.
    Near-duplicate frames (``split == "duplicate"``) are never candidates.
    """
    per_video = n_per_video is not None or proportion is not None
    if per_video and random_share:
        raise InvalidInputError(
            "--random-share cannot be combined with --n-per-video or --proportion; "
            "select the random arm in a round of its own."
        )
    if per_video:
        from labelwise.strategies._groups import group_quotas

        group_quotas([], n_per_group=n_per_video, proportion=proportion)  # checks the values
    if not 0.0 <= random_share <= 1.0:
        raise InvalidInputError(f"--random-share must be within [0, 1], got {random_share}.")
    if not force:
        check_no_open_round(project)
    if out is not None:  # before the round is stored, not after
        check_writable(out, flag="out", suffixes=tuple(TABLE_FORMATS))
    meta_names = _metadata_names(project, strategy, params)
    if meta_names:  # numeric sample metadata (a frame's sharpness) as criteria; filled below
        params = {**params, "metadata": dict.fromkeys(meta_names, ())}
    strat = get_strategy(strategy, **params)
    if proba is not None:
        from labelwise.loop._external import check_proba_strategy

        check_proba_strategy(strat)
    pred = prediction_input(strat, predictions)  # refuses a file the strategy ignores
    if pred is not None and not pred.needs_X:  # boxes alone: every sample, no embed needed
        X, ids = None, project.sample_ids()[0]
    else:
        X, ids, _ = load_features(project)
    if meta_names:
        strat = strat.with_params(metadata=sample_metadata(project, ids, meta_names))
    labels, taken_ids, n_round = selection_state(project)
    labeled_pos = np.flatnonzero(np.isin(ids, np.fromiter(labels, dtype=np.int64)))
    taken = np.isin(ids, taken_ids)
    cand = np.flatnonzero(~taken)
    if cand.size == 0:
        raise InvalidInputError(
            "nothing left to select: every sample is labeled, already in a batch or reserved "
            "for the evaluation set."
        )
    ext = None
    if proba is not None:  # read and check it all before anything is stored
        from labelwise.loop._external import read_external

        ext = read_external(proba, project, ids)
        ext.check_covers(cand)
        if "committee" in strat.needs and not ext.members:
            raise InvalidInputError(
                f"strategy {strat.name!r} needs committee samples: give --proba a .npy or "
                f".npz of shape (T, n, C) with T >= 2 members or MC-dropout passes; "
                f"{ext.source} has shape {tuple(ext.describe()['shape'])}."
            )
        if "committee" in strat.needs and ext.probas.shape[0] < 2:
            raise InvalidInputError(
                f"strategy {strat.name!r} needs at least 2 committee members; {ext.source} has 1."
            )
    found = None if pred is None else pred.read(project, ids)  # checked before storing
    groups = quotas = None
    if per_video:
        from labelwise.strategies._groups import group_quotas

        groups = video_of(project, ids[cand])
        quotas = group_quotas(groups, n_per_group=n_per_video, proportion=proportion)
        batch_size = sum(quotas.values())
        if batch_size == 0:
            raise InvalidInputError(
                f"--proportion {proportion} of each video's candidate frames rounds to 0 in "
                f"every video (the largest has {max(Counter(groups).values())}); "
                "raise it or use --n-per-video."
            )
    arm, cand = _random_arm(cand, batch_size, random_share, random_state)
    model, art = (None, None) if ext is not None or pred is not None else _load_model(project)
    cold = bool(strat.needs & MODEL_NEEDS) and model is None and ext is None
    if cold:
        strat = get_strategy("k_center_greedy")
    if model is not None and art.info.get("classes") != project.classes():
        raise InvalidInputError("the classes changed since the model was trained; run train.")
    n_strategy = min(batch_size, cand.size + arm.size) - arm.size
    ctx = (
        None
        if n_strategy <= 0
        else QueryContext(
            candidates=cand,
            labeled=labeled_pos,
            X=X if strat.needs & {"X", "labeled"} or (pred and pred.needs_X) else None,
            proba=_proba(model, ext, X, cand) if "proba" in strat.needs else None,
            probas=(
                ext.committee(cand)
                if ext is not None
                else _committee(model, X, labeled_pos, labels, ids, random_state).predict_proba(
                    X[cand]
                )
            )
            if "committee" in strat.needs
            else None,
            n_classes=len(project.classes()) or None,
            model=model,
            y_labeled=np.asarray([labels[int(ids[p])] for p in labeled_pos], dtype=object)
            if "model" in strat.needs
            else None,
            detections=found if pred is not None and pred.kind == "detections" else None,
            masks=found if pred is not None and pred.kind == "masks" else None,
        )
    )
    if ctx is not None:
        if groups is not None:  # --n-per-video / --proportion: the strategy inside each video
            from labelwise.strategies._groups import query_by_group

            sel = query_by_group(strat, ctx, groups, quotas, random_state, label="video")
        else:
            sel = strat.query(ctx, n_strategy, random_state)
        if cold:
            sel.note = COLD_START_NOTE
        elif ext is not None:
            sel.note = ext.note()
        elif pred is not None:
            pred.set_skipped(project, ids[sel.skipped])
            sel.note = "; ".join(x for x in (sel.note, pred.note()) if x)
        picks = sel.picks()
        strategy_name = sel.strategy
    else:  # the whole batch is the random arm
        sel, picks, strategy_name, cold = None, [], RANDOM_ARM, False
    picks = picks + _arm_picks(arm, len(picks), random_share)
    return store_round(
        project,
        picks,
        [int(ids[p.index]) for p in picks],
        first=next(iter(sel.criteria), None) if sel is not None else None,
        n_round=n_round,
        strategy_name=strategy_name,
        art=art,
        batch_size=batch_size,
        n_labeled=len(labels),
        cold=cold,
        ext=ext,
        pred=pred,
        n_arm=int(arm.size),
        with_content=with_content,
        out=out,
    )


def selection_state(project: Project) -> tuple[dict, np.ndarray, int]:
    """What a new round starts from: ``(labels, taken ids, round number)``.

    ``labels`` are the labels models and strategies may see (not the evaluation set,
    not retired classes); taken are the ids no round may pick: labeled, reserved for
    the evaluation set, already in a round, or off the pool.
    """
    all_labels = project.current_labels()
    reserved = eval_ids(project)
    labels, _ = _split_retired(project, training_labels(project, reserved, all_labels))
    with project.session() as s:
        pending = set(s.scalars(select(SelectionRow.sample_id)))
        n_round = (s.scalar(select(func.max(Round.number))) or 0) + 1
        off_pool = off_pool_ids(s)
    taken = np.fromiter(pending | set(all_labels) | reserved | off_pool, dtype=np.int64)
    return labels, taken, n_round


def store_round(
    project: Project,
    picks: list,
    pick_sids: list[int],
    *,
    first: str | None,
    n_round: int,
    strategy_name: str,
    art,
    batch_size: int,
    n_labeled: int,
    cold: bool,
    ext=None,
    pred=None,
    n_arm: int = 0,
    with_content: bool | None = None,
    out=None,
) -> BatchResult:
    """Store a selected batch as round ``n_round`` (one transaction) and write ``out``.

    ``picks`` have ``position``, ``raw``, ``normalized`` and ``reason``; ``pick_sids``
    their sample ids; ``first`` names the criterion whose raw value is a pick's
    ``score``. Refuses if another select took some of the picks or the round number
    meanwhile. Shared by :func:`select_batch` and the sharded select.
    """
    with project.session() as s:  # uids of the picks only, not of the whole pool
        uid_of = dict(
            s.execute(select(Sample.id, Sample.uid).where(Sample.id.in_(pick_sids))).all()
        )
    version = None if art is None else art.version
    rows = []
    for p, sid in zip(picks, pick_sids, strict=True):
        score = p.raw.get(first) if first else next(iter(p.raw.values()), None)
        rows.append(
            {
                "id": uid_of[sid],
                "score": score,
                "reason": p.reason,
                "strategy": RANDOM_ARM if isinstance(p, _ArmPick) else strategy_name,
                "round": n_round,
                "model_version": version,
                "position": p.position,
                "_sid": sid,
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
            strategy=strategy_name,
            model_version=version,
            batch_size=batch_size,
            n_labeled=n_labeled,
            note=COLD_START_NOTE
            if cold
            else ext.note()
            if ext is not None
            else None
            if pred is None
            else pred.note(),
            info={"external": ext.describe()}
            if ext is not None
            else None
            if pred is None
            else {"predictions": pred.describe()},
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
                    strategy=r["strategy"],
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
                    "strategy": strategy_name,
                    "n": len(rows),
                    "cold_start": cold,
                    "random_arm": n_arm,
                    **({} if ext is None else {"external": ext.describe()}),
                    **({} if pred is None else {"predictions": pred.describe()}),
                },
            )
        )
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    extra, content = content_columns(project, [r["_sid"] for r in rows], with_content)
    for r, c in zip(clean, content, strict=True):
        r.update(c)
    out_path = None
    if out is not None:
        out_path = Path(out)
        atomic_write(out_path, _batch_file(clean, out_path, extra))
    return BatchResult(
        n_round, strategy_name, cold, clean, out_path, [] if pred is None else pred.skipped
    )


RANDOM_ARM = "random_arm"
#: The group of candidates that are not video frames, in per-video selection.
NO_VIDEO = "(no video)"


def off_pool_ids(s) -> set[int]:
    """Samples that are never candidates: neither pool nor evaluation set (near-duplicates)."""
    return set(s.scalars(select(Sample.id).where(Sample.split.notin_(("pool", "eval")))))


def _metas(project: Project, sample_ids=None) -> dict[int, dict]:
    """``{database id: meta}`` of some samples (all when None), in chunks."""
    q = select(Sample.id, Sample.meta)
    with project.session() as s:
        if sample_ids is None:
            return {sid: m or {} for sid, m in s.execute(q)}
        sids = [int(i) for i in sample_ids]
        got: dict[int, dict] = {}
        for start in range(0, len(sids), 5000):
            chunk = sids[start : start + 5000]
            got.update((sid, m or {}) for sid, m in s.execute(q.where(Sample.id.in_(chunk))))
        return got


def video_of(project: Project, sample_ids) -> list[str]:
    """The video (``meta["video"]``) of each sample, :data:`NO_VIDEO` for other samples."""
    metas = _metas(project, sample_ids)
    out = []
    for sid in sample_ids:
        v = metas.get(int(sid), {}).get("video")
        out.append(NO_VIDEO if v is None else str(v))
    return out


def _metadata_names(project: Project, strategy: str, params: dict) -> list[str]:
    """Numeric metadata every sample has (a frame's ``sharpness``), for a strategy that reads it.

    ``weighted`` and ``intersection`` take such values as criteria (``strengths:
    {margin: 1, sharpness: 0.3}``) when no ``metadata`` is given.
    """
    from labelwise.strategies import STRATEGIES

    known = STRATEGIES.get(strategy)
    if "metadata" in params or known is None or "metadata" not in known.param_names:
        return []
    names: dict[str, None] | None = None
    for meta in _metas(project).values():
        numeric = {
            k: None
            for k, v in meta.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
        }
        names = numeric if names is None else {k: None for k in names if k in numeric}
        if not names:
            return []
    return list(names or ())


def sample_metadata(project: Project, ids: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """``{name: values}`` of numeric metadata, aligned with the feature rows ``ids``."""
    metas = _metas(project)
    return {
        n: np.asarray([metas.get(int(i), {}).get(n, np.nan) for i in ids], dtype=np.float64)
        for n in names
    }


@dataclass
class _ArmPick:
    """A pick of the random arm, shaped like a strategy's :class:`Pick`."""

    index: int
    position: int
    reason: str
    raw: dict = field(default_factory=dict)
    normalized: dict = field(default_factory=dict)


def _random_arm(cand: np.ndarray, batch_size: int, share: float, seed) -> tuple:
    """(random-arm positions, the other candidates): ``round(share * batch)`` drawn uniformly."""
    n = min(int(np.floor(share * min(batch_size, cand.size) + 0.5)), cand.size)
    if n == 0:
        return np.empty(0, dtype=np.int64), cand
    rng = np.random.default_rng(None if seed is None else [int(seed), 0x5EED])
    arm = np.sort(rng.choice(cand, size=n, replace=False))
    return arm, np.setdiff1d(cand, arm, assume_unique=True)


def _arm_picks(arm: np.ndarray, start: int, share: float) -> list[_ArmPick]:
    reason = (
        f"random arm: drawn uniformly at random from the unlabeled pool "
        f"({share:.0%} of each batch), to compare active learning with random sampling"
    )
    return [_ArmPick(int(i), start + k, reason) for k, i in enumerate(arm.tolist())]


def _proba(model, ext, X, cand):
    """Candidates' class probabilities: from the external file if given, else the model."""
    return ext.proba(cand) if ext is not None else model.predict_proba(X[cand])


def _committee(model, X, labeled_pos, labels, ids, seed):
    y = np.asarray([labels[int(ids[p])] for p in labeled_pos], dtype=object)
    return make_committee(model, random_state=seed).fit(X[labeled_pos], y)


_BATCH_COLUMNS = ("id", "score", "reason", "strategy", "round", "model_version", "position")


def _batch_file(rows: list[dict], path: Path, extra: tuple[str, ...] = ()) -> bytes:
    # CSV (formula-escaped), JSONL or Parquet by the extension: one writer for every table
    columns = (*_BATCH_COLUMNS, *extra)  # the contract's columns first, content after
    return table_bytes(columns, [[r.get(c) for c in columns] for r in rows], path)


def open_round(project: Project) -> tuple[int, int] | None:
    """``(round number, unlabeled picks)`` of the latest round while it has any, else None."""
    labels = project.current_labels()
    with project.session() as s:
        latest = s.scalars(select(Round).order_by(Round.number.desc()).limit(1)).first()
        if latest is None:
            return None
        picked = s.scalars(
            select(SelectionRow.sample_id).where(SelectionRow.round_id == latest.id)
        ).all()
    n = sum(p not in labels for p in picked)
    return (latest.number, n) if n else None


def check_no_open_round(project: Project) -> None:
    """Refuse to open a round while the latest one still has unlabeled picks."""
    found = open_round(project)
    if found is not None:
        number, n = found
        raise ConflictError(
            f"round {number} has {n} unlabeled pick{'s' if n != 1 else ''}; label them or "
            "pass --force to open another round."
        )


#: Batch-file columns that content columns must not take over.
_TAKEN = frozenset((*_BATCH_COLUMNS, "text", "path", "video", "frame", "timestamp"))


def content_columns(
    project: Project, sample_ids: list[int], with_content: bool | None = None
) -> tuple[tuple[str, ...], list[dict]]:
    """What to label, for a batch file: the text, the image path or the feature columns.

    ``with_content=None`` (the default) adds ``text`` for text samples and ``path``
    for images and files, and nothing for table rows; ``True`` also adds a table
    row's feature columns (a feature named like a batch column gets the prefix
    ``feature_``); ``False`` adds no content. Video frames always get ``video``,
    ``frame`` (index in the decoded video) and, when known, ``timestamp`` (seconds),
    after the content columns.

    Returns
    -------
    columns : tuple of str
        The content columns, in order.
    rows : list of dict
        One ``{column: value}`` per sample, in the order of ``sample_ids``.
    """
    if not sample_ids:
        return (), []
    got = {}
    with project.session() as s:
        for start in range(0, len(sample_ids), 5000):
            chunk = sample_ids[start : start + 5000]
            got.update(
                (sid, (text, uri, data))
                for sid, text, uri, data in s.execute(
                    select(Sample.id, Sample.text, Sample.uri, Sample.data).where(
                        Sample.id.in_(chunk)
                    )
                )
            )
    recs = [got[sid] for sid in sample_ids]
    frames = _frame_columns(project, sample_ids)
    if with_content is False:
        recs = [(None, None, None)] * len(recs)
    columns: list[str] = []
    if any(t is not None for t, _, _ in recs):
        columns.append("text")
    if any(u is not None for _, u, _ in recs):
        columns.append("path")
    features: dict[str, str] = {}  # feature name -> its column
    if with_content:
        for _, _, data in recs:
            for name in data or {}:
                if name not in features:
                    features[name] = f"feature_{name}" if name in _TAKEN else name
    columns.extend(features.values())
    rows = []
    for text, uri, data in recs:
        row = {}
        if "text" in columns:
            row["text"] = text
        if "path" in columns:
            row["path"] = uri
        for name, col in features.items():
            row[col] = (data or {}).get(name)
        rows.append(row)
    if frames is not None:
        frame_cols, frame_rows = frames
        columns.extend(frame_cols)
        for row, extra in zip(rows, frame_rows, strict=True):
            row.update(extra)
    return tuple(columns), rows


def _frame_columns(project: Project, sample_ids: list[int]):
    """``(columns, rows)`` of ``video``, ``frame`` (and ``timestamp``), or None without frames."""
    metas = _metas(project, sample_ids)
    picked = [metas.get(sid, {}) for sid in sample_ids]
    if not any("video" in m and "frame" in m for m in picked):
        return None
    cols = (
        ("video", "frame", "timestamp")
        if any("timestamp" in m for m in picked)
        else (
            "video",
            "frame",
        )
    )
    return cols, [{c: m.get(c) for c in cols} for m in picked]


#: The plateau rule ``status`` reports: the gain over the last k rounds, on the
#: evaluation set, is indistinguishable from zero and at most ``delta``.
STATUS_PLATEAU = {"k": 3, "delta": 0.01}


def status(project: Project, *, target: float | None = None) -> dict:
    """Counts per class and state, rounds with their metric, last selection, stopping signals.

    Each finished round carries ``metric`` (accuracy on the random evaluation set),
    ``metric_ci`` (its 95 % interval), ``n_eval``, ``cv_metric`` (cross-validated
    accuracy on the selected labels, biased by the selection), ``pool_metric`` and
    ``pool_metric_ci`` (estimated accuracy on the ``n_pool`` rows then unlabeled)
    and ``n_labeled`` (labels the model was fit on). Without an evaluation set ``metric_note`` says
    so, no metric-based stopping rule fires and the forecast is refused. With
    ``target``, ``forecast`` says how many more labels reach it.
    """
    labels = project.current_labels()
    with project.session() as s:
        n_samples = s.scalar(select(func.count()).select_from(Sample)) or 0
        pending = set(s.scalars(select(SelectionRow.sample_id))) - set(labels)
        n_label_rows = s.scalar(select(func.count()).select_from(Label)) or 0
        off_pool = off_pool_ids(s) - set(labels) - pending  # near-duplicate frames
    per_class = {c: 0 for c in project.classes()}
    retired: dict[str, int] = {}  # labels of retired classes: kept, but no model sees them
    from labelwise.io._objects import is_object_task, loads_label, object_classes

    objects = is_object_task(project.task)  # detection, segmentation: objects per class
    for v in labels.values():
        for name in object_classes(loads_label(v)) if objects else [v]:
            counts = per_class if name in per_class else retired
            counts[name] = counts.get(name, 0) + 1
    ev = eval_set_info(project, labels)
    stored = project.rounds()
    rounds = [_round_dict(r) for r in stored]
    finished = [r for r in rounds if r["finished"]]
    feats, model = project.latest_artifact("features"), project.latest_artifact("model")
    hist = [_Hist.of(r) for r in stored if _finished(r)]
    if ev["size"] == 0:
        note = NO_EVAL_NOTE
    elif ev["n_labeled"] == 0:
        note = "the evaluation set has no labels yet: label it to measure the model"
    else:
        note = None
    signal = None
    if ev["size"] and hist:
        rule = DiminishingReturns(metric="evaluation accuracy", **STATUS_PLATEAU)
        signal = rule.check(hist)
    st = {
        "project": str(project.path),
        "task": project.task,
        "n_samples": int(n_samples),
        "n_labeled": len(labels),
        "n_unlabeled": int(n_samples - len(labels)),
        "n_pending": len(pending),
        "n_candidates": int(
            n_samples - len(set(labels) | pending) - ev["n_unlabeled"] - len(off_pool)
        ),
        "n_duplicates": len(off_pool),
        "n_label_events": int(n_label_rows),
        "labels_per_class": per_class,
        "n_retired_labels": sum(retired.values()),
        "retired_labels_per_class": retired,
        "eval_set": ev,
        "metric_name": "eval_accuracy",
        "metric_note": note,
        "rounds": finished,
        "open_rounds": [r for r in rounds if not r["finished"]],
        "features_version": None if feats is None else feats.version,
        "model_version": None if model is None else model.version,
        "model_metric": None if model is None else model.info.get("metric"),
        "model_metric_ci": None if model is None else model.info.get("metric_ci"),
        "model_cv_metric": None if model is None else _cv_of(model.info),
        "model_pool_metric": None if model is None else model.info.get("pool_metric"),
        "model_pool_metric_ci": None if model is None else model.info.get("pool_metric_ci"),
        "stopping": {"diminishing_returns": signal},
    }
    if target is not None:
        from labelwise.loop._forecast import project_forecast

        try:
            st["forecast"] = project_forecast(finished, target).to_dict()
        except InvalidInputError as e:
            st["forecast"] = {"target": target, "refused": str(e)}
    return st


def _cv_of(info: dict):
    """CV accuracy of a model artifact (before 0004 it was stored as the metric)."""
    if "cv_metric" in info:
        return info["cv_metric"]
    return info.get("metric") if info.get("metric_name") == "cv_accuracy" else None


@dataclass
class _Hist:
    """A finished round as the stopping rules read it."""

    metric: float | None
    metric_ci: list | None
    hits: dict | None

    @classmethod
    def of(cls, r: Round) -> _Hist:
        d = _round_dict(r)
        info = r.info or {}
        return cls(d["metric"], d["metric_ci"], _unpack_hits(info.get("hits")))


def _round_dict(r: Round) -> dict:
    info = r.info or {}
    legacy_cv = r.metric_name == "cv_accuracy"  # rounds scored before the evaluation set
    n_labeled = info.get("n_labeled")
    return {
        "round": r.number,
        "strategy": r.strategy,
        "batch_size": r.batch_size,
        "n_labeled_before": r.n_labeled,
        "model_version": r.model_version,
        "trained_version": info.get("trained_version"),
        "finished": _finished(r),
        "metric_name": "eval_accuracy",
        "metric": None if legacy_cv else r.metric,
        "metric_ci": info.get("metric_ci"),
        "n_eval": info.get("n_eval", 0),
        "f1": info.get("f1"),
        "f1_ci": info.get("f1_ci"),
        "cv_metric": r.metric if legacy_cv else info.get("cv_metric"),
        "pool_metric": info.get("pool_metric"),
        "pool_metric_ci": info.get("pool_metric_ci"),
        "n_pool": info.get("n_pool"),
        "n_labeled": r.n_labeled + r.batch_size if n_labeled is None else n_labeled,
        "note": r.note,
        "external": info.get("external"),
        "created_at": r.created_at.isoformat() if r.created_at else None,
    }


def export_round(
    project: Project, number: int, out: str | Path, *, with_content: bool | None = None
) -> Path:
    """Write a stored round's batch (as ``select --out`` would have) to ``out`` again."""
    check_writable(out, flag="out", suffixes=tuple(TABLE_FORMATS))
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
    extra, content = content_columns(project, [r.sample_id for _, r in rows], with_content)
    clean = [
        {
            "id": uid,
            "score": r.score,
            "reason": r.reason,
            "strategy": r.strategy,
            "round": number,
            "model_version": r.model_version,
            "position": r.position,
            **c,
        }
        for (uid, r), c in zip(rows, content, strict=True)
    ]
    path = Path(out)
    atomic_write(path, _batch_file(clean, path, extra))
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
    uid = normalize_id(uid)  # the one id rule, as at import
    with project.session() as s:
        sample = s.scalars(select(Sample).where(Sample.uid == uid)).first()
        if sample is None:
            raise InvalidInputError(f"no sample with id {shorten(uid)} in {project.path}.")
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
