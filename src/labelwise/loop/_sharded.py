"""``select --engine local|ray``: a project's round selected from its sharded features.

With features written by ``embed --shards N`` the pool is scored shard by shard,
in this process (``local``) or on a Ray cluster (``ray``), through the same code
as ``labelwise score`` (:mod:`labelwise.scale`): the driver never holds the pool,
only each part's best rows. The round is stored exactly as :func:`select_batch`
stores one (the same round and queue rows, reasons and ``--out`` file).

What runs on shards:

- the uncertainty scorers (``margin``, ``entropy``, ``least_confidence``,
  ``ratio``, ``variance``) with the latest trained model: the exact top-k of the
  candidates, so the picks equal a select on one matrix, except that equal scores
  go to the smaller sample id instead of a random draw;
- ``auto``: for batches under 50 margin's exact top-k; for 50 or more its
  cluster-margin part as in memory: the exact top ``2 x batch`` margins (pass 1),
  then one pass fetching the feature rows k-means clusters (the pool when it has at
  most 10,000 rows, else the same random 10,000 rows by position) and those of the
  top candidates (pass 2), then the same k-means and round-robin on the driver
  (:func:`labelwise.strategies._cluster_margin.clusters_of`). The driver holds
  ``(10,000 + 2 x batch) x dim`` floats plus the model. Under the same seed the
  picks equal a select on one matrix (ties aside, as above). A model with its own
  gradient embeddings (a network: BADGE) is refused;
- ``k_center_greedy``, and the cold start without a model: the distributed
  core-set (greedy per shard, then on the union, the labeled rows counting as
  centres), within 4x the exact greedy's covering radius.

Without sharded features, ``local`` is the plain select and ``ray`` is refused.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from labelwise._validation import check_batch_size, check_writable
from labelwise.errors import InvalidInputError
from labelwise.io._formats import TABLE_FORMATS
from labelwise.loop._loop import COLD_START_NOTE
from labelwise.loop._project import (
    BatchResult,
    _load_model,
    check_no_open_round,
    select_batch,
    selection_state,
    store_round,
)
from labelwise.models._sklearn import model_method
from labelwise.store import Project
from labelwise.strategies._auto import AUTO_PARTS, BADGE_FROM, TOP_FACTOR
from labelwise.strategies._registry import UNCERTAINTY_SCORERS, Pick, _num, _pct

__all__ = ["SHARDED_STRATEGIES", "select_sharded"]

#: What ``select --engine`` runs on sharded features.
SHARDED_STRATEGIES = (*UNCERTAINTY_SCORERS, "k_center_greedy", "auto")


def _sharded_strategy(strategy: str, batch_size: int) -> str:
    """The scorer (or ``k_center_greedy``) that runs ``strategy`` on shards; refuses others."""
    listed = ", ".join(SHARDED_STRATEGIES)
    if strategy == "auto":
        return "margin"  # its first pass; cluster-margin for batches of BADGE_FROM or more
    if strategy in UNCERTAINTY_SCORERS or strategy == "k_center_greedy":
        return strategy
    raise InvalidInputError(
        f"strategy {strategy!r} does not run on sharded features; select --engine runs {listed}."
    )


def select_sharded(
    project: Project,
    *,
    engine: str,
    strategy: str = "auto",
    batch_size: int = 50,
    address: str | None = None,
    out=None,
    force: bool = False,
    with_content: bool | None = None,
    progress=None,
    rows_per_batch: int | None = None,
    random_state=None,
) -> BatchResult:
    """Select and store the next batch from the project's sharded features.

    Parameters
    ----------
    project : Project
    engine : {"local", "ray"}
    strategy : str, default="auto"
        One of :data:`SHARDED_STRATEGIES`.
    batch_size : int, default=50
    address : str, optional
        Ray cluster address; without it ``ray`` starts a local cluster.
    out, force, with_content
        As for :func:`select_batch`.
    progress : object with ``start(n_rows, n_shards)`` and ``update(rows, shards_done)``
    rows_per_batch : int, optional
        Rows read and scored at a time (default 65,536).
    random_state : int or None
        ``--seed``: seeds ``auto``'s k-means (for batches of 50 or more) as in a select
        on one matrix.

    Raises
    ------
    InvalidInputError
        ``ray`` without sharded features, a strategy that does not run on shards,
        nothing left to select.
    MissingRequirementError
        ``ray`` without Ray installed.
    """
    from labelwise.embed._shards import feature_shards
    from labelwise.scale._engine import check_engine
    from labelwise.scale._score import _check_model_features
    from labelwise.scale._select import k_center_candidates, top_k_candidates
    from labelwise.scale._shards import open_shards

    check_engine(engine)
    b = check_batch_size(batch_size)
    art_features = project.latest_artifact("features")
    if art_features is None:
        raise InvalidInputError(
            f"no features yet; run 'labelwise embed {project.path} --shards N' first."
        )
    paths = feature_shards(project, art_features)
    if paths is None:
        if engine == "ray":
            raise InvalidInputError(
                f"--engine ray needs sharded features, and features v{art_features.version} "
                f"are one matrix; run 'labelwise embed {project.path} --shards N' first."
            )
        return select_batch(  # one matrix in this process: the plain select
            project,
            strategy=strategy,
            batch_size=b,
            random_state=random_state,
            out=out,
            force=force,
            with_content=with_content,
        )
    scorer = _sharded_strategy(strategy, b)
    if not force:
        check_no_open_round(project)
    if out is not None:  # before the round is stored, not after
        check_writable(out, flag="out", suffixes=tuple(TABLE_FORMATS))
    labels, exclude, n_round = selection_state(project)
    shards = open_shards(paths, id_column="id")
    model, art = _load_model(project)  # k-center too: the round records its version
    cold = scorer in UNCERTAINTY_SCORERS and model is None
    if model is not None and scorer in UNCERTAINTY_SCORERS:
        if project.task != "classification":
            raise InvalidInputError(
                f"select --engine runs uncertainty scorers on classification projects; this "
                f"is a {project.task} project: use --strategy k_center_greedy."
            )
        if art.info.get("classes") != project.classes():
            raise InvalidInputError("the classes changed since the model was trained; run train.")
        _check_model_features(model, shards)
    diverse = strategy == "auto" and b >= BADGE_FROM and not cold
    if diverse and model_method(model, "gradient_embedding") is not None:
        raise InvalidInputError(
            f"--strategy auto picks by BADGE on the network's own gradient embeddings for a "
            f"batch of {BADGE_FROM} or more, which select --engine does not run on shards; "
            f"give --strategy margin or a --batch under {BADGE_FROM}."
        )
    kw = dict(engine=engine, address=address, progress=progress)
    if scorer == "k_center_greedy" or cold:
        labeled = np.fromiter(labels, dtype=np.int64)
        found = k_center_candidates(shards, k=b, exclude=exclude, labeled=labeled, **kw)
    else:
        if rows_per_batch is not None:
            kw["rows_per_batch"] = rows_per_batch
        k = TOP_FACTOR * b if diverse else b  # cluster-margin chooses among 2 x batch
        found = top_k_candidates(shards, strategy=scorer, k=k, model=model, exclude=exclude, **kw)
    if found.ids.size == 0:
        raise InvalidInputError(
            "nothing left to select: every sample is labeled, already in a batch or reserved "
            "for the evaluation set."
        )
    if scorer == "k_center_greedy" or cold:
        name, first, picks = "k_center_greedy", None, _k_center_picks(found, cold)
    elif diverse and found.n_candidates > b:
        found = _cluster_margin(shards, found, b, random_state, engine, address, rows_per_batch)
        name, first = strategy, scorer
        picks = _scorer_picks(found, scorer, AUTO_PARTS["cluster_margin"])
    else:
        found = _first(found, b)  # auto's margin part: the best b (all, if no more)
        note = AUTO_PARTS["margin"] if strategy == "auto" else None
        name, first, picks = strategy, scorer, _scorer_picks(found, scorer, note)
    return store_round(
        project,
        picks,
        [int(i) for i in found.ids.tolist()],
        first=first,
        n_round=n_round,
        strategy_name=name,
        art=art,
        batch_size=b,
        n_labeled=len(labels),
        cold=cold,
        with_content=with_content,
        out=out,
    )


def _scorer_picks(found, name: str, note: str | None) -> list[Pick]:
    """Picks with the raw score, its rank among the candidates and the reason select gives."""
    n = found.n_candidates
    picks = []
    for t, (score, below) in enumerate(
        zip(found.scores.tolist(), found.below.tolist(), strict=True)
    ):
        norm = below / max(n - 1, 1)  # share of candidates scoring strictly lower
        top = max(1.0 - norm, 1.0 / n) * 100
        parts = [note] if note else []
        parts.append(f"{name} {_num(score)} (top {_pct(top)})")
        picks.append(Pick(t, t, {name: float(score)}, {name: float(norm)}, "; ".join(parts)))
    return picks


def _k_center_picks(found, cold: bool) -> list[Pick]:
    key = "distance_to_labeled_or_chosen"
    picks = []
    for t, gain in enumerate(found.scores.tolist()):
        gain = 0.0 if np.isinf(gain) else gain  # a first pick with nothing labeled: 0, as select
        parts = [f"{key.replace('_', ' ')} {_num(gain)}"]
        if cold:
            parts.append(COLD_START_NOTE)
        picks.append(Pick(t, t, {key: float(gain)}, {}, "; ".join(parts)))
    return picks


def _first(found, b: int):
    """The first ``b`` picks of ``found``."""
    if found.ids.size <= b:
        return found
    return replace(found, ids=found.ids[:b], scores=found.scores[:b], below=found.below[:b])


def _cluster_margin(shards, found, b, random_state, engine, address, rows_per_batch):
    """``auto``'s cluster-margin pick among ``found`` (the top margins), as in memory.

    The same generator draws as :func:`~labelwise.strategies._auto.auto` on one
    matrix: the top candidates' order (ties), the pool sample, k-means.
    """
    from labelwise.scale._select import fetch_rows
    from labelwise.strategies._cluster_margin import (
        CLUSTER_SIZE,
        clusters_of,
        pool_sample,
        round_robin,
    )
    from labelwise.strategies._selectors import top_positions

    rng = np.random.default_rng(random_state)
    top = top_positions(found.scores, found.ids.size, rng)  # best first, as in memory
    n = shards.n_rows
    fit = pool_sample(n, rng)
    kw = {} if rows_per_batch is None else {"rows_per_batch": rows_per_batch}
    fit_ids, X_fit, X_top = fetch_rows(
        shards, positions=fit, ids=found.ids[top], engine=engine, address=address, **kw
    )
    whole = None
    if fit.size == n:  # the whole pool is clustered: each candidate's own assignment
        order = np.argsort(fit_ids, kind="stable")
        whole = order[np.searchsorted(fit_ids[order], found.ids[top])]
    group = clusters_of(X_fit, X_top, CLUSTER_SIZE, rng, rows_in_fit=whole)
    pos = round_robin(top, group, b)
    return replace(found, ids=found.ids[pos], scores=found.scores[pos], below=found.below[pos])
