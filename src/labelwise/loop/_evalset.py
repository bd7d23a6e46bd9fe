"""A project's random evaluation set: reserve it, keep models off it, score models on it.

Active learning picks a biased sample on purpose, so a metric computed on the
selected labels measures the picker, not the model. ``draw_eval_set`` reserves a
uniform random sample of the unlabeled pool (``Sample.split == "eval"``):

- reserved samples are never candidates of any strategy (cold start and the
  random arm included) and no model is ever fit on their labels;
- their labels arrive like any other (``labels import``, the web queue);
- every trained model is scored on the labeled part of the set: accuracy with
  its Wilson interval, macro-F1 with a bootstrap interval, and the per-item
  hits that the plateau rule compares between rounds.

The set can grow (``size`` is the new total); every draw is logged
(``eval_set.draw``) with its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import exists, func, select, update

from labelwise.errors import InvalidInputError
from labelwise.loop._intervals import bootstrap_interval, macro_f1, wilson_interval
from labelwise.store import Project, advisory_lock, atomic_write, transaction
from labelwise.store._models import Event, Gold, Label, ProjectRow, Sample, SelectionRow
from labelwise.store._project import CHUNK

__all__ = [
    "NO_EVAL_NOTE",
    "EvalSetResult",
    "draw_eval_set",
    "eval_ids",
    "is_reserved",
    "eval_set_info",
    "training_labels",
    "score_on_eval",
    "set_planned_eval_size",
    "apply_planned_eval_set",
    "unlabeled_eval_rows",
]

#: Shown by train, status and the dashboard when a project has no evaluation set.
NO_EVAL_NOTE = "no random evaluation set: this metric is biased by the selection"
EVAL_STRATEGY = "eval_set"


def eval_ids(project: Project) -> set[int]:
    """Database ids of the reserved (evaluation) samples."""
    with project.session() as s:
        return set(s.scalars(select(Sample.id).where(Sample.split == "eval")))


def is_reserved(project: Project, uid: str) -> bool:
    """Whether the sample with this stable id belongs to the evaluation set."""
    with project.session() as s:
        return s.scalar(select(Sample.split).where(Sample.uid == uid)) == "eval"


def training_labels(
    project: Project,
    reserved: set[int] | None = None,
    labels: dict[int, str] | None = None,
) -> dict[int, str]:
    """Every accepted label except those of the evaluation set: what models may be fit on.

    ``reserved`` and ``labels`` (``project.current_labels()``) are read when not given.
    """
    reserved = eval_ids(project) if reserved is None else reserved
    labels = project.current_labels() if labels is None else labels
    return {sid: v for sid, v in labels.items() if sid not in reserved}


@dataclass
class EvalSetResult:
    """One draw: the new total, how many were added, the seed, the rows written."""

    size: int
    added: int
    seed: int
    rows: list[dict]
    out: Path | None


def draw_eval_set(
    project: Project,
    size: int,
    *,
    seed: int | None = None,
    out: str | Path | None = None,
) -> EvalSetResult:
    """Reserve samples drawn uniformly at random from the unlabeled pool, up to ``size`` in all.

    Candidates are samples without a label, not selected by any round, not gold and
    not reserved already. ``size`` is the total: a second call with a larger size
    grows the set, one with the current size draws nothing. ``out`` receives every
    reserved sample still without a label, in the format of ``select --out``.
    """
    if size < 1:
        raise InvalidInputError(f"--size must be at least 1, got {size}.")
    if seed is None:
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))
    with transaction(project.session) as s:
        advisory_lock(s, "select")  # the same lock as select: no sample goes to both
        have = s.scalar(select(func.count(Sample.id)).where(Sample.split == "eval")) or 0
        if size < have:
            raise InvalidInputError(
                f"the evaluation set already has {have} samples; --size is the new total and "
                f"cannot shrink it (give --size {have} or more)."
            )
        need = size - have
        picked: list[int] = []
        if need:
            labeled = exists().where(Label.sample_id == Sample.id, Label.status == "accepted")
            chosen = exists().where(SelectionRow.sample_id == Sample.id)
            gold = exists().where(Gold.sample_id == Sample.id)
            cand = np.asarray(
                s.scalars(
                    select(Sample.id)
                    .where(Sample.split == "pool", ~labeled, ~chosen, ~gold)
                    .order_by(Sample.id)
                ).all(),
                dtype=np.int64,
            )
            if need > cand.size:
                raise InvalidInputError(
                    f"--size {size} needs {need} more samples but the unlabeled pool has only "
                    f"{cand.size} that no round selected; give --size {have + cand.size} or less."
                )
            rng = np.random.default_rng(seed)
            picked = sorted(int(i) for i in rng.choice(cand, size=need, replace=False))
            for start in range(0, len(picked), CHUNK):
                s.execute(
                    update(Sample)
                    .where(Sample.id.in_(picked[start : start + CHUNK]))
                    .values(split="eval")
                )
            s.add(
                Event(
                    kind="eval_set.draw",
                    payload={"size": size, "added": need, "seed": seed, "pool": int(cand.size)},
                )
            )
    rows = unlabeled_eval_rows(project, seed)
    out_path = None
    if out is not None:
        from labelwise.loop._project import _batch_file

        out_path = Path(out)
        atomic_write(out_path, _batch_file(rows, out_path))
    return EvalSetResult(size, len(picked), seed, rows, out_path)


def unlabeled_eval_rows(project: Project, seed: int = 0) -> list[dict]:
    """Reserved samples still without a label, as ``select --out`` rows (seeded order)."""
    labeled = exists().where(Label.sample_id == Sample.id, Label.status == "accepted")
    with project.session() as s:
        uids = s.scalars(
            select(Sample.uid).where(Sample.split == "eval", ~labeled).order_by(Sample.id)
        ).all()
    order = np.random.default_rng(seed).permutation(len(uids))  # not in database order
    return [
        {
            "id": uids[i],
            "score": None,
            "reason": "random evaluation sample: drawn uniformly from the unlabeled pool",
            "strategy": EVAL_STRATEGY,
            "round": None,
            "model_version": None,
            "position": pos,
        }
        for pos, i in enumerate(order)
    ]


def set_planned_eval_size(project: Project, size: int, *, seed: int | None = None) -> None:
    """Plan an evaluation set of ``size`` (``init --eval-size``): drawn once there is a pool."""
    if size < 1:
        raise InvalidInputError(f"--eval-size must be at least 1, got {size}.")
    plan = {"size": int(size), "seed": None if seed is None else int(seed)}
    with transaction(project.session) as s:
        row = s.scalars(select(ProjectRow)).one()
        row.settings = {**(row.settings or {}), "eval_set": plan}
        s.add(Event(kind="eval_set.plan", payload=plan))


def apply_planned_eval_set(project: Project) -> EvalSetResult | None:
    """Draw the planned evaluation set (``init --eval-size``) if the pool has none yet.

    Returns the draw, or None when nothing is planned, the set already has its size,
    or the pool is empty. A pool too small for the plan raises, naming the sizes, as
    ``eval-set`` does (nothing is reserved then).
    """
    plan = (project.info.settings or {}).get("eval_set") or {}
    planned = plan.get("size")
    if not planned:
        return None
    with project.session() as s:
        have = s.scalar(select(func.count(Sample.id)).where(Sample.split == "eval")) or 0
        n_samples = s.scalar(select(func.count(Sample.id))) or 0
    if have >= planned or n_samples == 0:
        return None
    return draw_eval_set(project, int(planned), seed=plan.get("seed"))


def eval_set_info(project: Project, labels: dict[int, str] | None = None) -> dict:
    """Size of the set, how many of it are labeled, and every draw (when, how many, seed)."""
    labels = project.current_labels() if labels is None else labels
    reserved = eval_ids(project)
    with project.session() as s:
        draws = s.execute(
            select(Event.payload, Event.created_at)
            .where(Event.kind == "eval_set.draw")
            .order_by(Event.id)
        ).all()
    n_labeled = sum(1 for sid in reserved if sid in labels)
    return {
        "size": len(reserved),
        "n_labeled": n_labeled,
        "n_unlabeled": len(reserved) - n_labeled,
        "draws": [{**payload, "at": at.isoformat()} for payload, at in draws],
    }


def score_on_eval(
    model,
    X: np.ndarray,
    sample_ids: np.ndarray,
    labels: dict[int, str],
    reserved: set[int],
    classes: list[str],
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    random_state: int = 0,
) -> dict | None:
    """Score a fitted model on the labeled evaluation samples (``None`` when there are none).

    Labels of classes the model does not know (e.g. retired) are left out. Returns
    ``metric`` (accuracy), ``metric_ci`` (Wilson), ``f1`` (macro), ``f1_ci``
    (percentile bootstrap), ``n_eval`` and ``hits`` (sample id -> right or wrong).
    """
    known = set(classes)
    pos = [
        i
        for i, sid in enumerate(sample_ids.tolist())
        if sid in reserved and sid in labels and labels[sid] in known
    ]
    if not pos:
        return None
    pos_arr = np.asarray(pos, dtype=np.int64)
    y = np.asarray([labels[int(sample_ids[i])] for i in pos], dtype=object)
    pred = np.asarray(model.predict(X[pos_arr]), dtype=object)
    code = {c: k for k, c in enumerate(classes)}
    t = np.asarray([code[v] for v in y], dtype=np.int64)
    p = np.asarray([code.get(v, -1) for v in pred], dtype=np.int64)
    p[p < 0] = len(classes)  # a prediction outside the classes: wrong for every label
    hits = t == p
    n = int(hits.size)
    k = int(hits.sum())
    lo, hi = wilson_interval(k, n, level=level)
    n_codes = len(classes) + 1
    f1 = float(macro_f1(t, p, n_codes))
    f1_lo, f1_hi = bootstrap_interval(
        lambda a, b: macro_f1(a, b, n_codes),
        t,
        p,
        n_boot=n_boot,
        level=level,
        random_state=random_state,
    )
    return {
        "metric": k / n,
        "metric_ci": [lo, hi],
        "f1": f1,
        "f1_ci": [f1_lo, f1_hi],
        "n_eval": n,
        "hits": {int(sample_ids[i]): bool(h) for i, h in zip(pos, hits.tolist(), strict=True)},
    }
