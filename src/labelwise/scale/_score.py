"""Score a pool stored as Parquet shards and select a batch, locally or on Ray.

:func:`score_shards` is ``labelwise score``. Two kinds of strategy:

- the uncertainty scorers (``least_confidence``, ``margin``, ``ratio``, ``entropy``,
  ``variance``) on probabilities, either read from the shards (the columns
  starting with ``proba_prefix``) or computed by a model on the feature columns.
  Every batch of rows is scored where it is read and only its best rows travel to
  the driver; the global merge is exact (see ``_topk``), so both engines return
  the same ids in the same order;
- the diversity selector ``k_center_greedy`` on the feature columns, through
  per-shard core-sets (see ``_coreset``): within 4x the optimal covering radius,
  hence within 4x the exact greedy's;
- the diversity selector ``kmeans_equal`` (K = batch clusters, each one's member
  nearest its centre) through a distributed k-means (see ``_kmeans``).

The driver holds O(batch_size x shards + model) values, never the pool.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labelwise._validation import check_batch_size
from labelwise.errors import InvalidInputError, LabelwiseError, UnknownNameError, did_you_mean
from labelwise.scale._coreset import KCenterShard, merge_k_center
from labelwise.scale._engine import check_engine, map_batches, map_shards
from labelwise.scale._kmeans import check_kmeans, kmeans_select
from labelwise.scale._shards import ShardSet, canonical_ids, open_shards
from labelwise.scale._topk import TopK, best_rows
from labelwise.strategies._registry import UNCERTAINTY_SCORERS

# n_samples * n_classes from which the scorers switch to their compiled kernel;
# scoring in chunks below it keeps every row's score independent of the batching
from labelwise.strategies._uncertainty import _KERNEL_MIN_SIZE

__all__ = ["SCORE_STRATEGIES", "ScoreResult", "score_shards", "load_model_file"]

#: Strategies ``labelwise score`` runs on shards.
SCORE_STRATEGIES = (*UNCERTAINTY_SCORERS, "k_center_greedy", "kmeans_equal")
#: Rows per batch read from a shard (the unit of work of ``map_batches``).
ROWS_PER_BATCH = 65_536


@dataclass
class ScoreResult:
    """A batch selected from a sharded pool.

    Attributes
    ----------
    strategy : str
    ids : ndarray of shape (n_picks,)
        Sample ids, best first.
    scores : ndarray of shape (n_picks,)
        The strategy's score (k-center: the distance to the rows picked before; the
        first pick has none and scores inf; kmeans_equal: the rows in its cluster).
    n_rows, n_shards : int
        Size of the pool.
    engine : str
    info : dict
        Strategy details, e.g. k-center's radius bounds.
    """

    strategy: str
    ids: np.ndarray
    scores: np.ndarray
    n_rows: int
    n_shards: int
    engine: str
    info: dict = field(default_factory=dict)

    def to_csv(self) -> bytes:
        """``id,score,rank`` rows, best first (rank 1 = label first)."""
        buf = io.StringIO()
        buf.write("id,score,rank\n")
        for r, (i, s) in enumerate(zip(self.ids.tolist(), self.scores.tolist(), strict=True), 1):
            buf.write(f"{_csv_field(i)},{s!r},{r}\n")
        return buf.getvalue().encode()


def _csv_field(value) -> str:
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not isinstance(value, int):
        text = "'" + text  # a spreadsheet would run it as a formula
    if any(c in text for c in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def load_model_file(path) -> object:
    """A model written by ``labelwise train`` (``artifacts/model-vN.pkl``).

    The file is unpickled: load only model files you (or your project) wrote.
    """
    import pickle

    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(
            f"model file {str(p)!r} does not exist; pass a file written by 'labelwise train' "
            "(PROJECT/artifacts/model-vN.pkl)."
        )
    try:
        with open(p, "rb") as fh:
            model = pickle.load(fh)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as e:
        raise InvalidInputError(
            f"{p}: not a model file written by 'labelwise train' ({type(e).__name__}: {e})."
        ) from e
    if not callable(getattr(model, "predict_proba", None)):
        raise InvalidInputError(f"{p}: the object in it has no predict_proba; not a model file.")
    return model


def _n_features_in(model) -> int | None:
    for obj in (model, getattr(model, "estimator", None)):
        n = getattr(obj, "n_features_in_", None)
        if isinstance(n, int | np.integer):
            return int(n)
    return None


def _chunked(fn, proba: np.ndarray) -> np.ndarray:
    """``fn(proba)`` in chunks under the kernel threshold: the same numpy path for every row."""
    rows = max(1, (_KERNEL_MIN_SIZE - 1) // max(proba.shape[1], 1))
    if proba.shape[0] <= rows:
        return fn(proba)
    return np.concatenate([fn(proba[i : i + rows]) for i in range(0, proba.shape[0], rows)])


class TopKPart:
    """Score a batch of rows and keep the best ``k`` rows of each shard in it.

    Returns the columns ``id``, ``score``, ``path`` and ``count`` (the rows of that
    shard in the batch, on its first kept row; 0 on the others).
    """

    def __init__(self, *, strategy, k, id_column, proba_columns, feature_columns, model):
        self.strategy = strategy
        self.k = k
        self.id_column = id_column
        self.proba_columns = list(proba_columns)
        self.feature_columns = list(feature_columns)
        self.model = model

    def _proba(self, batch, rows) -> np.ndarray:
        if self.model is None:
            return np.column_stack([batch[c][rows] for c in self.proba_columns])
        X = np.column_stack([batch[c][rows] for c in self.feature_columns])
        bad = ~np.isfinite(X).all(axis=0)
        if bad.any():
            cols = [c for c, b in zip(self.feature_columns, bad, strict=True) if b]
            raise InvalidInputError(f"feature column(s) {cols[:5]} hold NaN, inf or nulls.")
        return np.asarray(self.model.predict_proba(X))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        paths = batch["path"]
        ids_all = canonical_ids(batch[self.id_column])
        out_ids, out_scores, out_paths, out_counts = [ids_all[:0]], [np.empty(0)], [], []
        out_paths.append(np.empty(0, dtype=object))
        out_counts.append(np.empty(0, dtype=np.int64))
        for path, rows in _by_shard(paths) if len(paths) else ():
            try:
                proba = self._proba(batch, rows)
                scores = _chunked(UNCERTAINTY_SCORERS[self.strategy], proba)
            except LabelwiseError as e:
                raise type(e)(f"{path}: {e}") from None
            ids = ids_all[rows]
            pos = best_rows(ids, scores, self.k)
            counts = np.zeros(pos.size, dtype=np.int64)
            counts[0] = ids.size
            out_ids.append(ids[pos])
            out_scores.append(scores[pos])
            out_paths.append(np.full(pos.size, path, dtype=object))
            out_counts.append(counts)
        return {
            "id": np.concatenate(out_ids),
            "score": np.concatenate(out_scores).astype(np.float64),
            "path": np.concatenate(out_paths),
            "count": np.concatenate(out_counts),
        }

    def combine(self, a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict:
        """Two outputs for the same shard as one: its best ``k`` rows and its row count."""
        ids = np.concatenate([canonical_ids(a["id"]), canonical_ids(b["id"])])
        scores = np.concatenate([a["score"], b["score"]])
        paths = np.concatenate([a["path"], b["path"]])
        pos = best_rows(ids, scores, self.k)
        counts = np.zeros(pos.size, dtype=np.int64)
        if pos.size:
            counts[0] = a["count"].sum() + b["count"].sum()
        return {"id": ids[pos], "score": scores[pos], "path": paths[pos], "count": counts}


def _by_shard(paths: np.ndarray):
    """``(path, rows)`` for each shard in a batch; ``rows`` is a slice when there is one."""
    if (paths == paths[0]).all():  # the usual case: a batch from one shard
        yield str(paths[0]), slice(None)
        return
    import pandas as pd

    codes, uniques = pd.factorize(paths)  # hashing: no copy of the strings, no sort
    for c, path in enumerate(uniques.tolist()):
        yield str(path), np.flatnonzero(codes == c)


def _check_strategy(strategy: str) -> None:
    if strategy not in SCORE_STRATEGIES:
        from labelwise.strategies import STRATEGIES

        where = "is not available on shards" if strategy in STRATEGIES else "is unknown"
        raise UnknownNameError(
            f"strategy {strategy!r} {where}; 'labelwise score' runs "
            f"{', '.join(SCORE_STRATEGIES)}." + did_you_mean(strategy, SCORE_STRATEGIES)
        )


def score_shards(
    data,
    *,
    strategy: str,
    batch_size: int,
    model=None,
    proba_prefix: str | None = None,
    id_column: str = "id",
    engine: str = "local",
    address: str | None = None,
    rows_per_batch: int = ROWS_PER_BATCH,
    random_state: int | None = None,
    progress=None,
) -> ScoreResult:
    """Select ``batch_size`` rows of a pool stored as Parquet shards.

    Parameters
    ----------
    data : str, path or list of paths
        The shards: a glob pattern (``'shards/*.parquet'``), a folder or a list of files.
    strategy : str
        An uncertainty scorer (``margin``, ``entropy``, ...), ``k_center_greedy`` or
        ``kmeans_equal``.
    batch_size : int
        Rows to select.
    model : object with predict_proba, optional
        Applied to the feature columns (every numeric column but the id and
        probability ones); e.g. :func:`load_model_file` of a file written by ``train``.
    proba_prefix : str, optional
        The shards hold class probabilities in the columns starting with it.
    id_column : str, default="id"
        Unique sample ids (integers or strings).
    engine : {"local", "ray"}
        ``local`` runs in this process; ``ray`` on a Ray cluster (``address``, or a
        local one started with the machine's cores).
    address : str, optional
        Ray cluster address (``ray://host:10001``, ``auto``).
    rows_per_batch : int, default=65536
        Rows read and scored at a time.
    random_state : int, optional
        Seed of ``kmeans_equal``'s k-means++ seeding (the other strategies draw
        nothing); without it a fresh one, reported in ``info["seed"]``.
    progress : object with ``start(n_rows, n_shards)`` and ``update(rows, shards_done)``
        Called as the work proceeds (rows scored so far, shards finished).

    Returns
    -------
    ScoreResult
    """
    _check_strategy(strategy)
    b = check_batch_size(batch_size)
    check_engine(engine)
    uncertainty = strategy in UNCERTAINTY_SCORERS
    if uncertainty and (model is None) == (proba_prefix is None):
        raise InvalidInputError(
            f"strategy {strategy!r} needs probabilities: give either --model MODEL (a file "
            "written by 'labelwise train') or --proba-columns PREFIX, not both and not neither."
        )
    shards = open_shards(data, id_column=id_column, proba_prefix=proba_prefix)
    # every check the footers allow, before the progress bar shows
    if uncertainty and model is not None:
        _check_model_features(model, shards)
    if strategy == "kmeans_equal":
        check_kmeans(shards, b)
    elif not uncertainty and not shards.feature_columns:
        raise InvalidInputError(
            f"{shards.paths[0]}: {strategy} needs numeric feature columns besides the id."
        )
    if progress is not None:
        progress.start(shards.n_rows, len(shards.paths))
    if strategy == "kmeans_equal":
        return _kmeans_equal(shards, b, engine, address, random_state, progress)
    if not uncertainty:
        return _k_center(shards, b, engine, address, progress)
    part = TopKPart(
        strategy=strategy,
        k=b,
        id_column=id_column,
        proba_columns=shards.proba_columns,
        feature_columns=shards.feature_columns if model is not None else (),
        model=model,
    )
    columns = [id_column, *(shards.feature_columns if model is not None else shards.proba_columns)]
    top = TopK(b)
    seen = dict.fromkeys(shards.paths, 0)
    expected = dict(zip(shards.paths, shards.rows, strict=True))
    rows_done = 0
    for out in map_batches(
        shards,
        columns,
        part,
        engine=engine,
        batch_size=rows_per_batch,
        address=address,
        combine=part.combine,
    ):
        top.add(canonical_ids(out["id"]), out["score"])
        for path, c in zip(out["path"].tolist(), out["count"].tolist(), strict=True):
            if c:
                seen[path] += c
                rows_done += c
        if progress is not None:
            progress.update(rows_done, sum(seen[p] == expected[p] for p in seen))
    if rows_done != shards.n_rows:  # a shard changed under us
        raise InvalidInputError(
            f"scored {rows_done:,} rows but the shards' footers promised {shards.n_rows:,}; "
            "were the shards rewritten during the run?"
        )
    ids, scores = top.result()
    return ScoreResult(strategy, ids, scores, shards.n_rows, len(shards.paths), engine)


def _check_model_features(model, shards: ShardSet) -> None:
    n = _n_features_in(model)
    if not shards.feature_columns:
        raise InvalidInputError(
            f"{shards.paths[0]}: no numeric feature columns besides the id"
            + (" and probability columns" if shards.proba_columns else "")
            + " for the model to score."
        )
    if n is not None and n != len(shards.feature_columns):
        names = ", ".join(shards.feature_columns[:8])
        more = ", ..." if len(shards.feature_columns) > 8 else ""
        raise InvalidInputError(
            f"the model was trained on {n} features but the shards have "
            f"{len(shards.feature_columns)} feature columns ({names}{more}); write the shards "
            "with the same features, in the same order, as the project the model was trained on."
        )


def _k_center(shards: ShardSet, b: int, engine, address, progress) -> ScoreResult:
    fn = KCenterShard(k=b, id_column=shards.id_column, feature_columns=shards.feature_columns)
    parts: dict[int, tuple] = {}
    rows_done = 0
    for i, part in map_shards(shards, fn, engine=engine, address=address):
        parts[i] = part
        rows_done += shards.rows[i]
        if progress is not None:
            progress.update(rows_done, len(parts))
    ids, scores, info = merge_k_center([parts[i] for i in sorted(parts)], b)
    return ScoreResult(
        "k_center_greedy", ids, scores, shards.n_rows, len(shards.paths), engine, info
    )


def _kmeans_equal(shards: ShardSet, b: int, engine, address, seed, progress) -> ScoreResult:
    sel = kmeans_select(shards, b, engine=engine, address=address, random_state=seed,
                        progress=progress)  # fmt: skip
    return ScoreResult(
        "kmeans_equal", sel.ids, sel.sizes, shards.n_rows, len(shards.paths), engine, sel.info
    )
