"""``labelwise monitor`` on a stored project: read a production batch, test it, enqueue picks.

The batch (CSV, Parquet, JSONL, a folder of images, or the name of a ``batch`` tag
of samples already in the project) is embedded as the project's newest features
were (:func:`labelwise.embed.feature_transform`) and compared with a reference:

- default: the labeled and the evaluation samples;
- ``eval``: the random evaluation set (a random sample of the pool: the unbiased
  choice, since labels picked by active learning are not a random sample);
- ``train``: the labels the model was fit on;
- a file: embedded like the batch.

The model is the latest trained one. Its uncertainty and predicted classes on the
reference are taken on the reference rows it was not fit on when there are at
least 30 of them (on its own training rows a model is over-confident), and its
probabilities are calibrated on the labeled evaluation rows for the accuracy
estimate.

``enqueue=N`` adds the N picks (see :mod:`labelwise.monitor._enqueue`) to the pool,
tagged ``meta.batch = <batch name>``, opens a labeling round for them (strategy
``monitor``, each pick's reason) and stores a features version that covers them,
reusing the rows the batch was embedded with (retrain before the next ``select``).
Each run's summary is stored as a ``monitor`` artifact (the report JSON), which the
dashboard lists. Every step can be run again after a crash: samples of the batch
already in the project are not imported twice, and those not yet in a round go into
the round.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from labelwise.errors import DataFileError, InvalidInputError, shorten
from labelwise.store import Project, advisory_lock, transaction
from labelwise.store._models import Event, Round, Sample, SelectionRow

__all__ = ["MonitorRun", "monitor_project", "monitor_runs", "batch_key", "REFERENCES"]

REFERENCES = ("pool", "eval", "train", "labeled")
MONITOR_STRATEGY = "monitor"
_MIN_UNSEEN = 30  # reference rows outside the training labels needed to use them alone


@dataclass
class MonitorRun:
    """One run's report (the ``report.json`` content) and where it went."""

    report: dict
    out: Path | None
    round: int | None


@dataclass
class _Batch:
    name: str
    uids: list[str]
    X: np.ndarray
    recs: list[dict] | None  # None: samples already in the project
    kind: str | None
    sample_ids: np.ndarray | None  # in the project already (a batch tag)
    source: Path | None = None  # the batch's file or folder (the import's source)


def batch_key(path: str | Path) -> str:
    """SHA-256 of a batch file, or of a folder's file names and contents."""
    p = Path(path)
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        h.update(f.relative_to(p).as_posix().encode() if f != p else b"")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _read_records(project: Project, src: Path, field: str, id_column, text_column, ignore):
    """Records (uid, data/text/uri, meta) of a batch file or image folder."""
    from labelwise.io._samples import _image_records, _read_table, _table_records

    if src.is_dir():
        if field != "uri":
            raise DataFileError(
                f"{src}: a folder of images, but the project holds {field} samples."
            )
        recs, _ = _image_records(src, [])
        for r in recs:  # production images named like pool images stay apart
            r["uid"] = f"{src.name}/{r['uid']}"
            r["label"] = None
        return recs, "images"
    df = _read_table(src, id_column)
    cols = [str(c) for c in df.columns]
    if id_column is None and "id" in cols:
        id_column = "id"
    if field == "text" and text_column is None:
        text_column = "text" if "text" in cols else None
        if text_column is None:
            raise DataFileError(
                f"{src}: the project holds texts; give --text-column (the columns are "
                f"{shorten(', '.join(cols), 200)})."
            )
    ignore = [c for c in ignore if c in cols and c not in (id_column, text_column)]
    recs, kind, _ = _table_records(
        src, id_column, text_column if field == "text" else None, None, [], ignore
    )
    if field == "uri" or (field == "data") != (kind == "table"):
        raise DataFileError(
            f"{src}: gives {kind} rows, but the project holds "
            f"{ {'data': 'table', 'text': 'text', 'uri': 'image'}[field] } samples."
        )
    return recs, kind


def _embed(project: Project, recs: list[dict], src) -> np.ndarray:
    from labelwise.embed import feature_transform

    tf = feature_transform(project)
    if tf.columns is not None:
        have = set(recs[0]["data"] or {})
        missing = [c for c in tf.columns if c not in have]
        if missing:
            raise DataFileError(
                f"{src}: missing column(s) {shorten(missing, 300)} that the project's features "
                "use; give the batch the same columns as the import."
            )
    return tf.transform(recs)


def _tagged(project: Project, name: str) -> tuple[np.ndarray, list[str]]:
    """(database ids, uids) of the samples tagged ``meta.batch == name``."""
    with project.session() as s:
        rows = s.execute(
            select(Sample.id, Sample.uid).where(Sample.meta["batch"].as_string() == name)
        ).all()
    return np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows]


def _read_batch(project, data, id_column, text_column, ignore) -> _Batch:
    from labelwise.embed import feature_transform, load_features

    src = Path(data)
    if not src.exists():
        sids, uids = _tagged(project, str(data))
        if not sids.size:
            raise DataFileError(
                f"--data {shorten(str(data))}: no such file or folder, and no sample of the "
                "project is tagged with that batch name."
            )
        X, ids, _ = load_features(project)
        pos = {int(i): p for p, i in enumerate(ids)}
        keep = [k for k, i in enumerate(sids) if int(i) in pos]
        if not keep:
            raise InvalidInputError(
                f"the samples of batch {shorten(str(data))} have no features yet; run "
                f"'labelwise embed {project.path}' first."
            )
        rows = [pos[int(sids[k])] for k in keep]
        return _Batch(str(data), [uids[k] for k in keep], X[rows], None, None, sids[keep])
    field = feature_transform(project).field
    recs, kind = _read_records(project, src, field, id_column, text_column, ignore)
    return _Batch(
        src.stem if src.is_file() else src.name,
        [r["uid"] for r in recs],
        _embed(project, recs, src),
        recs,
        kind,
        None,
        src.resolve(),
    )


def _production_ids(project) -> np.ndarray:
    """Ids of the samples that monitor or feedback brought in from production batches."""
    from sqlalchemy import select

    from labelwise.store._models import Sample

    with project.session() as s:
        rows = s.execute(select(Sample.id, Sample.meta).where(Sample.meta.is_not(None))).all()
    return np.array(
        [i for i, meta in rows if isinstance(meta, dict) and "batch" in meta], dtype=np.int64
    )


def _reference(project, reference, X, ids, labels, reserved, train_ids, text_column, ignore):
    """(rows of the reference, name) — rows as a matrix, with the ids of stored rows."""
    if reference is None or reference in REFERENCES:
        reference = reference or "pool"
        if reference == "pool":
            pos = np.flatnonzero(~np.isin(ids, _production_ids(project)))
            return X[pos], ids[pos], "pool (every imported sample but production batches)"
        if reference == "eval":
            want = set(reserved)
        elif reference == "train":
            want = set(train_ids)
        else:
            want = set(labels) | set(reserved)
        pos = np.flatnonzero(np.isin(ids, np.fromiter(want, dtype=np.int64, count=len(want))))
        name = {"labeled": "labeled + evaluation samples"}.get(reference, reference)
        return X[pos], ids[pos], name
    src = Path(reference)
    if not src.exists():
        raise InvalidInputError(
            f"--reference {shorten(str(reference))}: give pool, eval, train, labeled or an "
            "existing file."
        )
    from labelwise.embed import feature_transform

    recs, _ = _read_records(
        project, src, feature_transform(project).field, None, text_column, ignore
    )
    return _embed(project, recs, src), None, str(src)


def _feature_columns(tf, R, B):
    """Columns for the per-feature tests: the table's own (in its units), or the top components.

    A table's columns are tested as the user knows them: an integer code stays an
    integer (so it gets the chi-square test), and reasons and plots show its values.
    """
    if tf.columns is not None:
        return tf.unscale(R), tf.unscale(B), list(tf.columns)
    from sklearn.decomposition import PCA

    k = min(10, R.shape[1], R.shape[0] - 1)
    pca = PCA(k, random_state=0).fit(R)
    return pca.transform(R), pca.transform(B), [f"pc{j + 1}" for j in range(k)]


def monitor_project(
    project: Project,
    data,
    *,
    reference: str | None = None,
    out: str | Path | None = None,
    enqueue: int = 0,
    id_column: str | None = None,
    text_column: str | None = None,
    ignore_columns=(),
    force: bool = False,
    once: bool = False,
    alpha: float = 0.05,
    random_state: int = 0,
    extra_info: dict | None = None,
) -> MonitorRun:
    """Monitor one production batch against the project; see the module docstring.

    ``once``: if samples of this batch were already enqueued into a round (a run that
    stopped after it), enqueue no more. ``ignore_columns``: batch columns left out
    (e.g. a label column). Everything is read and checked before anything is stored;
    ``out`` gets ``report.json`` and ``report.html``.
    """
    from labelwise._validation import check_writable
    from labelwise.embed import feature_transform, load_features
    from labelwise.loop._evalset import eval_ids, training_labels
    from labelwise.loop._project import _load_model, _split_retired, check_no_open_round
    from labelwise.monitor._drift import UNCERTAINTY_SCORES, detect_drift
    from labelwise.monitor._report import report_dict, write_report

    if enqueue < 0:
        raise InvalidInputError(f"--enqueue must be 0 or more, got {enqueue}.")
    if out is not None:
        check_writable(out, flag="--out", folder=True)
    if enqueue and not force:
        check_no_open_round(project)
    batch = _read_batch(project, data, id_column, text_column, ignore_columns)
    if batch.X.shape[0] == 0:
        raise DataFileError(f"--data {shorten(str(data))}: the batch has no rows.")
    X, ids, fversion = load_features(project)
    labels = project.current_labels()
    reserved = eval_ids(project)
    train_labels, _ = _split_retired(project, training_labels(project, reserved, labels))
    R, ref_ids, ref_name = _reference(
        project, reference, X, ids, labels, reserved, set(train_labels), text_column, ignore_columns
    )
    if (
        batch.sample_ids is not None and ref_ids is not None
    ):  # a tagged batch is not its own reference
        keep = ~np.isin(ref_ids, batch.sample_ids)
        R, ref_ids = R[keep], ref_ids[keep]
    if R.shape[0] < 10:
        raise InvalidInputError(
            f"the reference ({ref_name}) has {R.shape[0]} samples; monitoring needs at least 10: "
            "label more, or pass --reference eval or a file."
        )
    notes = []
    model, art = _load_model(project)
    classes = project.classes()
    kw: dict = {}
    if model is not None:
        if art.info.get("classes") != classes:
            raise InvalidInputError("the classes changed since the model was trained; run train.")
        if art.info.get("features_version") not in (None, fversion):
            notes.append(
                f"the model was trained on features v{art.info.get('features_version')}, the "
                f"features are now v{fversion}: retrain for model-based tests you can trust"
            )
        unseen = R if ref_ids is None else R[~np.isin(ref_ids, list(train_labels))]
        if ref_ids is not None and unseen.shape[0] < _MIN_UNSEEN:
            unseen = R
            notes.append(
                "uncertainty and predictions of the reference are taken on rows the model was "
                "fit on (fewer than 30 others): it is over-confident there; use --reference eval"
            )
        kw["proba_ref"] = model.predict_proba(unseen)
        kw["proba_batch"] = model.predict_proba(batch.X)
        cal = [i for i in reserved if i in labels and labels[i] in classes]
        if cal:
            pos = np.flatnonzero(np.isin(ids, cal))
            kw["proba_cal"] = model.predict_proba(X[pos])
            kw["y_cal"] = [classes.index(labels[int(ids[p])]) for p in pos]
        from labelwise.models._sklearn import SampledCommittee, model_method

        if model_method(model, "predict_proba_samples") is not None:
            com = SampledCommittee(model)
            kw["probas_ref"] = com.predict_proba(unseen)
            kw["probas_batch"] = com.predict_proba(batch.X)
        last = project.rounds()
        strat = last[-1].strategy if last else None
        kw["uncertainty"] = strat if strat in UNCERTAINTY_SCORES else "entropy"
    else:
        notes.append("no trained model: prediction, uncertainty and accuracy tests skipped")
    if ref_ids is not None and reference == "labeled":
        picked = _picked_ids(project, ref_ids)
        if picked:
            notes.append(
                f"the reference holds {picked} samples picked by a strategy, which are not a "
                "random sample of the pool; --reference eval is unbiased"
            )
    FR, FB, fnames = _feature_columns(feature_transform(project), R, batch.X)
    res = detect_drift(
        R,
        batch.X,
        features_ref=FR,
        features_batch=FB,
        feature_names=fnames,
        classes=classes if model is not None else None,
        alpha=alpha,
        random_state=random_state,
        **kw,
    )
    picks, enqueued, rnd = [], [], None
    if enqueue:
        picks, enqueued, rnd = _enqueue(project, batch, res, enqueue, once, art, random_state)
    context = {
        "batch": batch.name,
        "data": str(data),
        "reference": ref_name,
        "model_version": None if art is None else art.version,
        "features_version": fversion,
        "round": rnd,
        "notes": notes,
        **(extra_info or {}),
    }
    report = report_dict(res, enqueued=enqueued, picks=picks, context=context)
    _store(project, report)
    out_path = None
    if out is not None:
        out_path = Path(out)
        write_report(report, res, out_path, X_ref=R, X_batch=batch.X, F_ref=FR, F_batch=FB)
    return MonitorRun(report, out_path, rnd)


def _picked_ids(project: Project, sample_ids: np.ndarray) -> int:
    with project.session() as s:
        chosen = set(
            s.scalars(select(SelectionRow.sample_id).where(SelectionRow.strategy != "random_arm"))
        )
    return int(np.isin(sample_ids, list(chosen)).sum()) if chosen else 0


def _enqueue(project, batch: _Batch, res, n, once, art, random_state):
    """Import the picks (tagged), open a round for them, recompute features."""
    from labelwise.embed._features import extend_features
    from labelwise.io._samples import store_samples
    from labelwise.monitor._enqueue import pick_informative

    tagged_sids, tagged_uids = _tagged(project, batch.name)
    in_round = _in_rounds(project, tagged_sids)
    if once and in_round:  # this batch was enqueued by a run that stopped after its round
        return [], [], None
    with project.session() as s:
        from labelwise.store._project import ids_of

        existing = ids_of(s, batch.uids) if batch.recs is not None else {}
    tagged = set(tagged_uids)
    clash = [u for u in existing if u not in tagged]
    if batch.sample_ids is not None:
        cand = [i for i, sid in enumerate(batch.sample_ids) if int(sid) not in in_round]
    else:
        cand = [i for i, u in enumerate(batch.uids) if u not in existing]
    orphans = [
        i for i, u in enumerate(batch.uids) if u in tagged and existing.get(u) not in in_round
    ]
    # samples imported by a run that stopped before their round: finish that enqueue
    pool = orphans if orphans else cand
    picks = pick_informative(
        batch.X,
        res.signals,
        len(orphans) if orphans else n,
        reasons=res.reasons,
        fired=res.fired,
        candidates=np.array(sorted(pool), dtype=np.intp),
        random_state=random_state,
    )
    if clash and not picks:
        raise InvalidInputError(
            f"every id of the batch is already in the project (e.g. {shorten(clash[0])}); "
            "nothing to enqueue."
        )
    if not picks:
        return [], [], None
    if batch.recs is not None:
        new = [dict(batch.recs[p.index]) for p in picks if batch.uids[p.index] not in existing]
        for r in new:
            r["meta"] = {**(r.get("meta") or {}), "batch": batch.name}
            r["label"] = None
        if new:
            kind = {"images": "images", "table": "table", "text": "text"}[batch.kind]
            store_samples(project, batch.source, kind, new, lambda i: f"batch row {i + 1}")
        with project.session() as s:
            sid_of = ids_of(s, [batch.uids[p.index] for p in picks])
        sids = [sid_of[batch.uids[p.index]] for p in picks]
    else:
        sids = [int(batch.sample_ids[p.index]) for p in picks]
    rnd = _open_round(project, batch.name, picks, sids, art)
    # the picks' rows were embedded above: kept, not embedded again (the same method,
    # precision and number of shards as the newest features)
    extend_features(project, sids, batch.X[[p.index for p in picks]])
    rows = [
        {"id": batch.uids[p.index], "score": round(p.score, 6), "test": p.test, "reason": p.reason}
        for p in picks
    ]
    return rows, [r["id"] for r in rows], rnd


def _in_rounds(project: Project, sids) -> set[int]:
    if len(sids) == 0:
        return set()
    with project.session() as s:
        return set(
            s.scalars(
                select(SelectionRow.sample_id).where(
                    SelectionRow.sample_id.in_([int(i) for i in sids])
                )
            )
        )


def _open_round(project: Project, name: str, picks, sids: list[int], art) -> int:
    """Store a round (strategy ``monitor``) whose picks are ``sids``, with each reason."""
    from sqlalchemy import func

    version = None if art is None else art.version
    n_labeled = len(project.current_labels())
    with transaction(project.session) as s:
        advisory_lock(s, "select")
        number = (s.scalar(select(func.max(Round.number))) or 0) + 1
        rnd = Round(
            number=number,
            strategy=MONITOR_STRATEGY,
            model_version=version,
            batch_size=len(sids),
            n_labeled=n_labeled,
            note=f"monitor: {len(sids)} production samples of batch {name}",
            info={"monitor": {"batch": name}},
        )
        s.add(rnd)
        s.flush()
        for pos, (p, sid) in enumerate(zip(picks, sids, strict=True)):
            s.add(
                SelectionRow(
                    round_id=rnd.id,
                    sample_id=sid,
                    position=pos,
                    strategy=MONITOR_STRATEGY,
                    model_version=version,
                    score=p.score,
                    scores=p.scores,
                    normalized={},
                    reason=p.reason,
                )
            )
        s.add(
            Event(
                kind="round.select",
                payload={
                    "round": number,
                    "strategy": MONITOR_STRATEGY,
                    "n": len(sids),
                    "batch": name,
                },
            )
        )
    return number


#: What the dashboard and ``monitor_runs`` keep of each report.
SUMMARY_KEYS = (
    "batch",
    "drift",
    "alerts",
    "estimated_accuracy",
    "estimated_accuracy_ci",
    "n_batch",
    "n_reference",
    "reference",
    "round",
    "model_version",
    "batch_key",
    "pipeline",
)


def _store(project: Project, report: dict) -> None:
    info = {k: report.get(k) for k in SUMMARY_KEYS}
    info["n_enqueued"] = len(report["enqueued"])
    info["fired"] = [t["name"] for t in report["tests"] if t["fired"]]
    project.add_artifact("monitor", json.dumps(report).encode(), ".json", info)


def monitor_runs(project: Project) -> list[dict]:
    """Every stored monitoring run, newest first: version, time and the summary."""
    from labelwise.store._models import Artifact

    with project.session() as s:
        arts = s.scalars(
            select(Artifact).where(Artifact.kind == "monitor").order_by(Artifact.version.desc())
        ).all()
    return [
        {"version": a.version, "at": a.created_at.isoformat() if a.created_at else None, **a.info}
        for a in arts
    ]
