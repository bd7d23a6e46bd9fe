"""``labelwise run pipeline.yaml``: the whole loop from one file, resumable after a crash.

Every step reads the store to find out whether it is already done, so a run
that was killed continues at the last finished step:

1. create (or open) the project; 2. import the pool (once); 3. compute features
(once per pool size); 4. rounds until a stopping rule fires: select a batch
(unless a round is still waiting for labels) -> get its labels from the oracle
-> train. The simulated oracle reveals the data file's label column; the file
oracle waits for ``round-N.csv`` (columns ``id,label``) in its folder.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from labelwise.config import Pipeline, PipelineError
from labelwise.embed import compute_features
from labelwise.errors import InvalidInputError
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._project import history, round_uids, select_batch, status, train
from labelwise.loop._stopping import DiminishingReturns
from labelwise.store import Project, atomic_write
from labelwise.store._project import CONFIG

__all__ = ["run_pipeline"]


def _project(cfg: Pipeline) -> Project:
    if (cfg.project / CONFIG).exists():
        p = Project.open(cfg.project)
        if p.task != cfg.task or p.classes() != list(cfg.classes):
            raise PipelineError(
                f"{cfg.project} holds a {p.task} project with classes {p.classes()}, but the "
                f"pipeline says {cfg.task} with {list(cfg.classes)}; use another project folder."
            )
        return p
    return Project.init(cfg.project, task=cfg.task, classes=cfg.classes, db=cfg.db)


def _truth(cfg: Pipeline) -> dict[str, str]:
    import pandas as pd

    from labelwise.io._samples import _read_table

    df = _read_table(cfg.data.path)
    col = cfg.data.label_column
    if col not in df.columns:
        raise PipelineError(f"data.label_column {col!r} is not a column of {cfg.data.path}.")
    ids = (
        df[cfg.data.id_column].astype(str)
        if cfg.data.id_column
        else pd.Series([f"{cfg.data.path.stem}-{i + 1}" for i in range(len(df))])
    )
    return dict(zip(ids.tolist(), df[col].astype(str).tolist(), strict=True))


def _stop_reason(cfg: Pipeline, st: dict, n_rounds: int) -> str | None:
    rules = cfg.stopping
    metrics = [r["metric"] for r in st["rounds"]]
    if rules.label_budget and st["n_labeled"] >= rules.label_budget:
        return f"label budget reached: {st['n_labeled']} of {rules.label_budget} labels"
    if rules.target_metric and metrics and metrics[-1] >= rules.target_metric:
        return f"cross-validated accuracy {metrics[-1]:.4f} reached {rules.target_metric:g}"
    if rules.diminishing_returns and metrics:
        dr = DiminishingReturns(
            rules.diminishing_returns.k, rules.diminishing_returns.delta, "cross-validated accuracy"
        )
        why = dr.check([_M(m) for m in metrics])
        if why:
            return why
    if rules.max_rounds and n_rounds >= rules.max_rounds:
        return f"{rules.max_rounds} rounds run"
    if st["n_unlabeled"] - st["n_pending"] <= 0:
        return "the pool is exhausted"
    return None


class _M:
    def __init__(self, metric):
        self.metric = metric


def _label_file(rows: list[tuple[str, str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "label", "annotator"])
    w.writerows((uid, lab, "simulated") for uid, lab in rows)
    return buf.getvalue().encode()


def _write_outputs(cfg: Pipeline, p: Project, reason: str | None) -> dict:
    st = status(p)
    st["stopped_by"] = reason
    atomic_write(cfg.outputs.folder / "status.json", json.dumps(st, indent=1).encode())
    rounds = [r for r in history(p) if r["metric"] is not None]
    if len(rounds) >= 2:
        from labelwise.loop._plot import plot_project_curve

        plot_project_curve(
            rounds,
            cfg.outputs.folder / "learning_curve.png",
            title=f"{p.path.name}: {cfg.strategy.name}",
        )
    return st


def run_pipeline(cfg: Pipeline, *, echo: Callable[[str], None] = print) -> dict:
    """Run (or resume) the pipeline; returns the final status with ``stopped_by``."""
    cfg.outputs.folder.mkdir(parents=True, exist_ok=True)
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
        art = compute_features(p, method=cfg.features.method)
        echo(f"features v{art.version}: {art.info['n_samples']} x {art.info['dim']}")
    truth = _truth(cfg) if cfg.oracle.type == "simulated" else {}
    params = dict(cfg.strategy.params)
    if cfg.strategy.strengths:
        params["strengths"] = cfg.strategy.strengths
    while True:
        waiting = [r for r in history(p) if r["n_selected_labeled"] < r["n_selected"]]
        if waiting:  # a round selected before a crash, or waiting for a label file
            rnd = waiting[-1]["round"]
            picked = round_uids(p, rnd)
            if cfg.oracle.type == "simulated":
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
        if st["n_labeled"] and (model is None or model.info["n_labeled"] != st["n_labeled"]):
            try:
                t = train(p, model=cfg.model.name)
                m = "n/a" if t["metric"] is None else f"{t['metric']:.4f}"
                echo(f"model v{t['version']} on {t['n_labeled']} labels, cv accuracy {m}")
            except InvalidInputError as e:  # e.g. a single class so far: keep selecting
                echo(f"not trained yet: {e}")
            st = status(p)
        reason = _stop_reason(cfg, st, len(history(p)))
        if reason:
            echo(f"stopped: {reason}")
            return _write_outputs(cfg, p, reason)
        size = cfg.batch_size
        if cfg.stopping.label_budget:
            size = max(1, min(size, cfg.stopping.label_budget - st["n_labeled"]))
        nxt = len(history(p)) + 1
        b = select_batch(
            p,
            strategy=cfg.strategy.name,
            batch_size=size,
            out=cfg.outputs.folder / f"round-{nxt}.csv",
            random_state=cfg.seed + nxt,
            **params,
        )
        echo(
            f"round {b.round}: selected {len(b.rows)} by {b.strategy}"
            + (" (cold start)" if b.cold_start else "")
        )


def _all_labeled(p: Project, uids: list[str]) -> bool:
    labels = p.current_labels()
    ids, all_uids = p.sample_ids()
    pos = {u: int(i) for i, u in zip(ids, all_uids, strict=True)}
    return all(pos[u] in labels for u in uids)
