"""``labelwise run pipeline.yaml``: the whole loop from one file, resumable after a crash.

Every step reads the store to find out whether it is already done, so a run
that was killed continues at the last finished step:

1. create (or open) the project; 2. import the pool (once); 3. compute features
(once per pool size); 4. rounds until a stopping rule fires: select a batch
(unless a round is still waiting for labels) -> get its labels from the oracle
-> train. The simulated oracle reveals the data file's label column; the file
oracle waits for ``round-N.csv`` (columns ``id,label``) in its folder.

With ``model: {external: FILE}`` a model outside labelwise supplies the class
probabilities: nothing is trained. FILE is read again before every select (the
outside model rewrites it between rounds), and a round whose labels are in is
scored by FILE's argmax on the labeled evaluation rows it covers (accuracy with
its Wilson interval), so the stopping rules and the learning curve work as with
a trained model. While FILE does not exist the run stops and says it waits for it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from labelwise._validation import check_writable, normalize_id
from labelwise.config import Pipeline, PipelineError
from labelwise.embed import compute_features
from labelwise.errors import InvalidInputError, clip, did_you_mean, shorten
from labelwise.io._formats import csv_bytes
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._project import history, round_uids, select_batch, status, train
from labelwise.loop._stopping import DiminishingReturns, TargetMetric
from labelwise.store import Project, atomic_write
from labelwise.store._project import CONFIG

__all__ = ["run_pipeline"]


def _project(cfg: Pipeline) -> Project:
    if (cfg.project / CONFIG).exists():
        p = Project.open(cfg.project)
        if p.task != cfg.task or p.classes() != list(cfg.classes):
            raise PipelineError(
                f"{cfg.project} holds a {p.task} project with classes {shorten(p.classes())}, "
                f"but the pipeline says {cfg.task} with {shorten(list(cfg.classes))}; use "
                "another project folder."
            )
        return p
    return Project.init(cfg.project, task=cfg.task, classes=cfg.classes, db=cfg.db)


def _truth(cfg: Pipeline, df=None) -> dict[str, str]:
    import pandas as pd

    from labelwise.io._samples import _read_table

    if df is None:
        df = _read_table(cfg.data.path, id_column=cfg.data.id_column)
    col = cfg.data.label_column
    _check_column(cfg, "label_column", df)
    ids = (
        df[cfg.data.id_column].map(normalize_id)  # the ids exactly as the import stored them
        if cfg.data.id_column
        else pd.Series([f"{cfg.data.path.stem}-{i + 1}" for i in range(len(df))])
    )
    return dict(zip(ids.tolist(), _label_values(df[col]).tolist(), strict=True))


def _label_values(column):
    """The known labels as the simulated oracle hands them over (text, stripped)."""
    return column.astype(str).str.strip()


def _check_column(cfg: Pipeline, key: str, df) -> None:
    col = getattr(cfg.data, key)
    if col is not None and col not in df.columns:
        cols = [str(c) for c in df.columns]
        raise PipelineError(
            f"{cfg.source}: data.{key}: column {shorten(col)} not in {cfg.data.path.name}; "
            f"columns are {clip(', '.join(cols), 300)}." + did_you_mean(col, cols)
        )


#: features.method values that fit each kind of data.
_FITTING_METHODS = {
    "texts": ("auto", "tfidf", "minilm"),
    "table rows": ("auto", "tabular"),
    "images": ("auto", "pixels", "efficientnet_lite0"),
}


def _preflight(cfg: Pipeline) -> dict[str, str]:
    """Check all the data file can tell, before anything is created or stored.

    Output and project folders must be writable, the named columns must exist,
    ``features.method`` must fit the data, and (simulated oracle) every row needs
    a known label that is one of ``classes``. Returns the known labels by sample
    id for the simulated oracle, else an empty dict.
    """
    from labelwise.io._samples import _read_table

    src, data = cfg.source, cfg.data
    if not (cfg.project / CONFIG).exists():
        check_writable(cfg.project, flag=f"{src}: project", folder=True)
    check_writable(cfg.outputs.folder, flag=f"{src}: outputs.folder", folder=True)
    if data.path.is_dir():
        given = [k for k in ("id_column", "text_column", "label_column") if getattr(data, k)]
        if given:
            raise PipelineError(
                f"{src}: data.{given[0]}: data.path {shorten(str(data.path))} is a folder of "
                f"images, which has no columns; remove data.{given[0]} (images need oracle "
                "type 'file')."
            )
        kind, df = "images", None
    else:
        df = _read_table(data.path, id_column=data.id_column)
        for key in ("id_column", "text_column", "label_column"):
            _check_column(cfg, key, df)
        kind = "texts" if data.text_column else "table rows"
    fits = _FITTING_METHODS[kind]
    if cfg.features.method not in fits:
        raise PipelineError(
            f"{src}: features.method = {cfg.features.method!r} does not fit "
            f"{data.path.name}: its samples are {kind}; use {' or '.join(fits)}."
        )
    if cfg.oracle.type != "simulated" or df is None:
        return {}
    col = data.label_column
    unit, first = ("line", 2) if data.path.suffix.lower() == ".csv" else ("row", 1)
    empty = df[col].isna().to_numpy()
    if empty.any():
        where = f"{unit} {int(empty.argmax()) + first}"
        raise PipelineError(
            f"{src}: data.label_column {shorten(col)} is empty at {data.path.name} {where}; "
            "the simulated oracle needs a known label for every row."
        )
    values = _label_values(df[col])
    outside = ~values.isin(list(cfg.classes)).to_numpy()
    if outside.any():
        i = int(outside.argmax())
        bad = sorted(set(values[outside].tolist()))
        raise PipelineError(
            f"{src}: classes {shorten(list(cfg.classes))} do not match data.label_column "
            f"{shorten(col)}: {data.path.name} {unit} {i + first} holds {shorten(values.iloc[i])}"
            f"; labels that are not classes: {clip(', '.join(bad), 200)}. List every label "
            "of the column in classes."
        )
    return _truth(cfg, df)


def _undo_creation(cfg: Pipeline) -> Callable[[], None]:
    """What to remove if the first run fails before the project is usable.

    Only what this run creates: the outermost missing folder of ``project`` (or,
    when the folder exists but is no project yet, the entries added to it) and a
    SQLite file named by ``db`` that does not exist yet.
    """
    from sqlalchemy.engine import make_url

    path = cfg.project.absolute()
    top, before = None, None
    if path.exists():
        before = set(os.listdir(path))
    else:
        top = path
        while not top.parent.exists():
            top = top.parent
    db_file = None
    if cfg.db:
        url = make_url(cfg.db)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            db_file = Path(url.database)
            db_file = None if db_file.exists() else db_file

    def undo() -> None:
        if top is not None:
            shutil.rmtree(top, ignore_errors=True)
        elif path.is_dir():
            for name in set(os.listdir(path)) - before:
                child = path / name
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        if db_file is not None:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{db_file}{suffix}").unlink(missing_ok=True)

    return undo


def _n_train(st: dict) -> int:
    """Labels a model may be fit on: every label but the evaluation set's."""
    return st["n_labeled"] - st["eval_set"]["n_labeled"]


def _stop_reason(cfg: Pipeline, p: Project, st: dict, n_rounds: int) -> str | None:
    """The first rule that fires. Metric rules read the evaluation set, never CV accuracy."""
    from labelwise.loop._project import _finished, _Hist

    rules = cfg.stopping
    n_train = _n_train(st)
    if rules.label_budget and n_train >= rules.label_budget:
        return f"label budget reached: {n_train} of {rules.label_budget} labels"
    hist = [_Hist.of(r) for r in p.rounds() if _finished(r)] if st["eval_set"]["size"] else []
    metric = "evaluation accuracy"
    if rules.target_metric and hist:
        why = TargetMetric(rules.target_metric, metric).check(hist)
        if why:
            return why
    if rules.diminishing_returns and hist:
        dr = DiminishingReturns(
            rules.diminishing_returns.k, rules.diminishing_returns.delta, metric
        )
        why = dr.check(hist)
        if why:
            return why
    if rules.max_rounds and n_rounds >= rules.max_rounds:
        return f"{rules.max_rounds} rounds run"
    if st["n_candidates"] <= 0:
        return "the pool is exhausted"
    return None


def _evaluation_set(cfg: Pipeline, p: Project, truth: dict, echo) -> None:
    """Reserve ``evaluation.size`` random samples (once) and get their labels first."""
    from labelwise.loop._evalset import NO_EVAL_NOTE, draw_eval_set, unlabeled_eval_rows

    if cfg.evaluation is None:
        if cfg.stopping.target_metric or cfg.stopping.diminishing_returns:
            echo(f"{NO_EVAL_NOTE}: target_metric and diminishing_returns cannot fire")
        return
    if status(p)["eval_set"]["size"] < cfg.evaluation.size:
        r = draw_eval_set(p, cfg.evaluation.size, seed=cfg.seed)
        echo(f"evaluation set: {r.size} random samples reserved ({r.added} now)")
    rows = unlabeled_eval_rows(p, cfg.seed)
    if not rows:
        return
    uids = [r["id"] for r in rows]
    if cfg.oracle.type == "simulated":
        lab_path = cfg.outputs.folder / "labels-eval-set.csv"
        atomic_write(lab_path, _label_file([(u, truth[u]) for u in uids]))
        import_labels(p, lab_path)
        echo(f"evaluation set: {len(uids)} labels from the oracle")
        return
    inbox = cfg.oracle.folder / "eval-set.csv"
    if inbox.exists():
        import_labels(p, inbox)
        return
    from labelwise.loop._project import _batch_file

    path = cfg.outputs.folder / "eval-set.csv"
    if not path.exists():
        atomic_write(path, _batch_file(rows, path))
    echo(
        f"evaluation set: {len(uids)} samples need a label; put {inbox} (columns id,label) "
        "there: until then no metric-based stopping rule can fire"
    )


def _label_file(rows: list[tuple[str, str]]) -> bytes:
    return csv_bytes(["id", "label", "annotator"], [(u, lab, "simulated") for u, lab in rows])


def _write_outputs(cfg: Pipeline, p: Project, reason: str | None) -> dict:
    st = status(p)
    st["stopped_by"] = reason
    atomic_write(cfg.outputs.folder / "status.json", json.dumps(st, indent=1).encode())
    rounds = [r for r in history(p) if r["finished"]]
    if len(rounds) >= 2:
        from labelwise.loop._plot import plot_project_curve

        plot_project_curve(
            rounds,
            cfg.outputs.folder / "learning_curve.png",
            title=f"{p.path.name}: {cfg.strategy.name}",
        )
    return st


def run_pipeline(cfg: Pipeline, *, echo: Callable[[str], None] = print) -> dict:
    """Run (or resume) the pipeline; returns the final status with ``stopped_by``.

    Everything the files can tell is checked before anything is created; if the
    first run still fails before the project has its pool and features, the
    half-built project it created is removed again.
    """
    truth = _preflight(cfg)
    undo = None if (cfg.project / CONFIG).exists() else _undo_creation(cfg)
    p = None
    try:
        p = _project(cfg)
        st = status(p)
        if st["n_samples"] == 0:
            r = import_pool(
                p,
                cfg.data.path,
                id_column=cfg.data.id_column,
                text_column=cfg.data.text_column,
                ignore_columns=[c for c in [cfg.data.label_column] if c],
            )
            echo(f"imported {r.n_samples} samples")
            st = status(p)
        feats = p.latest_artifact("features")
        if feats is None or feats.info.get("n_samples") != st["n_samples"]:
            shards = None if feats is None else feats.info.get("shards")  # keep them sharded
            art = compute_features(p, method=cfg.features.method, shards=shards)
            echo(f"features v{art.version}: {art.info['n_samples']} x {art.info['dim']}")
    except Exception:
        if undo is not None:
            if p is not None:
                p.close()
            undo()
        raise
    cfg.outputs.folder.mkdir(parents=True, exist_ok=True)
    params = dict(cfg.strategy.params)
    if cfg.strategy.strengths:
        params["strengths"] = cfg.strategy.strengths
    _evaluation_set(cfg, p, truth, echo)
    while True:
        waiting = [r for r in history(p) if r["n_selected_labeled"] < r["n_selected"]]
        if waiting:  # a round selected before a crash, or waiting for a label file
            rnd = waiting[-1]["round"]
            picked = round_uids(p, rnd)
            if cfg.oracle.type == "simulated":
                if cfg.monitor is not None and any(u not in truth for u in picked):
                    truth.update(_batch_truth(cfg))  # production samples a monitor enqueued
                lab_path = cfg.outputs.folder / f"labels-round-{rnd}.csv"
                atomic_write(lab_path, _label_file([(u, truth[u]) for u in picked]))
                import_labels(p, lab_path)
            else:
                inbox = cfg.oracle.folder / f"round-{rnd}.csv"
                if not inbox.exists():
                    echo(
                        f"waiting for labels of round {rnd}: put {inbox} (columns id,label) "
                        "there and run again"
                    )
                    st = _write_outputs(cfg, p, None)
                    st["waiting_for"] = str(inbox)
                    return st
                import_labels(p, inbox)
                if not _all_labeled(p, picked):
                    raise PipelineError(
                        f"{inbox} does not label every sample of round {rnd}; complete it."
                    )
        st = status(p)
        model = p.latest_artifact("model")
        n_train = _n_train(st)
        external = cfg.model.external
        if external is not None:
            if external.exists() and any(
                not r["finished"] and r["n_selected"] == r["n_selected_labeled"] > 0
                for r in history(p)
            ):
                from labelwise.loop._external import finish_external_rounds

                ev = finish_external_rounds(p, external)
                echo(_external_line(external, ev))
                st = status(p)
        elif n_train and (model is None or model.info["n_labeled"] != n_train):
            try:
                t = train(p, model=cfg.model.name)
                echo(_trained_line(t))
            except InvalidInputError as e:  # e.g. a single class so far: keep selecting
                echo(f"not trained yet: {e}")
            st = status(p)
        if cfg.monitor is not None and p.latest_artifact("model") is not None:
            if _monitor_step(cfg, p, echo):
                continue  # the enqueued picks are the next round: label them first
        reason = _stop_reason(cfg, p, st, len(history(p)))
        if reason:
            echo(f"stopped: {reason}")
            return _write_outputs(cfg, p, reason)
        size = cfg.batch_size
        if cfg.stopping.label_budget:
            size = max(1, min(size, cfg.stopping.label_budget - _n_train(st)))
        nxt = len(history(p)) + 1
        if external is not None and not external.exists():
            echo(f"waiting for predictions: put {external} (model.external) there and run again")
            st = _write_outputs(cfg, p, None)
            st["waiting_for"] = str(external)
            return st
        b = select_batch(
            p,
            strategy=cfg.strategy.name,
            batch_size=size,
            out=cfg.outputs.folder / f"round-{nxt}.csv",
            random_state=cfg.seed + nxt,
            random_share=cfg.random_share,
            proba=external,
            **params,
        )
        echo(
            f"round {b.round}: selected {len(b.rows)} by {b.strategy}"
            + (" (cold start)" if b.cold_start else "")
        )


def _batches(cfg: Pipeline) -> list[Path]:
    """The production batches of ``monitor.data``: a folder's files or image folders, or a glob."""
    import glob

    from labelwise.io._samples import IMAGE_SUFFIXES

    spec = Path(cfg.monitor.data)
    if spec.is_dir():
        files = [
            f for f in spec.iterdir() if f.suffix.lower() in (".csv", ".parquet", ".pq", ".jsonl")
        ]
        dirs = [d for d in spec.iterdir() if d.is_dir()]
        if (
            not files
            and not dirs
            and any(f.suffix.lower() in IMAGE_SUFFIXES for f in spec.iterdir())
        ):
            return [spec]  # the folder is one image batch
        return sorted(files + dirs)
    return sorted(Path(f) for f in glob.glob(str(spec)))


def _monitor_step(cfg: Pipeline, p: Project, echo) -> bool:
    """Monitor the first batch not monitored yet; True when it opened a round.

    A batch is done once its report is stored (a ``monitor`` artifact with its
    SHA-256): a run killed before that monitors it again, and the enqueue does not
    import or select its samples twice (see :func:`labelwise.monitor.monitor_project`).
    """
    from labelwise.monitor import batch_key, monitor_project, monitor_runs
    from labelwise.monitor._report import summary_line

    done = {r.get("batch_key") for r in monitor_runs(p) if r.get("pipeline")}
    for path in _batches(cfg):
        key = batch_key(path)
        if key in done:
            continue
        m = cfg.monitor
        run = monitor_project(
            p,
            path,
            reference=m.reference,
            out=cfg.outputs.folder / f"monitor-{path.stem}",
            enqueue=m.enqueue,
            id_column=m.id_column,
            text_column=cfg.data.text_column,
            ignore_columns=[c for c in [cfg.data.label_column] if c],
            once=True,
            random_state=cfg.seed,
            extra_info={"pipeline": True, "batch_key": key},
        )
        echo(summary_line(run.report))
        return run.round is not None
    return False


def _batch_truth(cfg: Pipeline) -> dict[str, str]:
    """Known labels of the production batches' rows (tables with ``data.label_column``)."""
    from labelwise.io._samples import _read_table

    col, truth = cfg.data.label_column, {}
    for path in _batches(cfg):
        if path.is_dir():
            continue
        id_col = cfg.monitor.id_column
        df = _read_table(path, id_column=id_col)
        id_col = id_col or ("id" if "id" in df.columns else None)
        if col not in df.columns:
            continue
        ids = (
            df[id_col].map(normalize_id)
            if id_col
            else [f"{path.stem}-{i + 1}" for i in range(len(df))]
        )
        truth.update(zip(list(ids), _label_values(df[col]).tolist(), strict=True))
    return truth


def _external_line(path: Path, ev: dict | None) -> str:
    if ev is None:
        return f"{path.name}: no labeled evaluation row to score it on"
    lo, hi = ev["metric_ci"]
    return (
        f"{path.name}: evaluation accuracy {ev['metric']:.4f} ({lo:.4f} to {hi:.4f}) "
        f"on {ev['n_eval']} labels"
    )


def _trained_line(t: dict) -> str:
    cv = "n/a" if t["cv_metric"] is None else f"{t['cv_metric']:.4f}"
    if t["metric"] is None:
        ev = t["note"]
    else:
        lo, hi = t["metric_ci"]
        ev = f"evaluation accuracy {t['metric']:.4f} ({lo:.4f} to {hi:.4f}) on {t['n_eval']} labels"
    return f"model v{t['version']} on {t['n_labeled']} labels: {ev}; cv accuracy {cv}"


def _all_labeled(p: Project, uids: list[str]) -> bool:
    labels = p.current_labels()
    ids, all_uids = p.sample_ids()
    pos = {u: int(i) for i, u in zip(ids, all_uids, strict=True)}
    return all(pos[u] in labels for u in uids)
