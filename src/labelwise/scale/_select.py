"""Select from the candidates of a sharded pool: some rows are taken, the rest compete.

What ``labelwise select --engine local|ray`` runs on a project's sharded features
(``embed --shards N``); the same engines and per-shard work as ``labelwise score``,
plus what a project's round needs:

- rows whose id is in ``exclude`` (labeled, already queued, the evaluation set)
  are never candidates;
- :func:`top_k_candidates`: the exact top-k of an uncertainty scorer (score
  descending, then id ascending, see ``_topk``), and for every pick the number of
  candidates scoring strictly lower (the ``normalized`` rank and the "top x%" of its
  reason, as a select on one matrix gives). Each part of the pool reports its k
  best rows and how many rows tie with its k-th; the driver keeps the counts of the
  at most k + 1 score values that can still reach the top, so its memory stays
  O(batch x parts) values;
- :func:`k_center_candidates`: k-center greedy that treats the labeled rows as
  centres already chosen: greedy in every shard (from the labeled rows), then
  greedy on the union of the shards' picks. As in ``_coreset``, the covering radius
  is within 4x the exact greedy's;
- :func:`fetch_rows`: the feature rows at some pool positions and of some ids, in
  one pass (what ``auto``'s cluster-margin part clusters and assigns).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labelwise.errors import InvalidInputError, LabelwiseError
from labelwise.scale._coreset import radius_info
from labelwise.scale._engine import check_engine, map_batches, map_shards
from labelwise.scale._score import ROWS_PER_BATCH, TopKPart, _by_shard, _chunked
from labelwise.scale._shards import ShardSet, canonical_ids, read_shard
from labelwise.scale._topk import TopK, best_rows
from labelwise.strategies._registry import UNCERTAINTY_SCORERS

__all__ = ["CandidateResult", "fetch_rows", "k_center_candidates", "top_k_candidates"]

#: Score values the driver counts before it forgets those under the running k-th best.
_PRUNE_AT = 4_096


@dataclass
class CandidateResult:
    """The picks of a sharded select.

    Attributes
    ----------
    ids : ndarray of shape (n_picks,)
        Sample ids, in pick order.
    scores : ndarray of shape (n_picks,)
        The scorer's value (k-center: the distance to labeled or chosen rows at pick).
    below : ndarray of shape (n_picks,) or None
        Candidates scoring strictly lower than each pick (uncertainty scorers).
    n_candidates, n_rows : int
    info : dict
    """

    ids: np.ndarray
    scores: np.ndarray
    below: np.ndarray | None
    n_candidates: int
    n_rows: int
    info: dict = field(default_factory=dict)


def _excluded(ids: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    """Boolean mask of ``ids`` found in the sorted array ``exclude``."""
    if exclude.size == 0:
        return np.zeros(ids.shape[0], dtype=bool)
    at = np.searchsorted(exclude, ids)
    return exclude[np.minimum(at, exclude.size - 1)] == ids


class CandidateTopKPart(TopKPart):
    """Score a batch's candidate rows; keep each shard's best ``k`` with tie counts.

    Returns the columns ``id``, ``score``, ``weight`` (how many candidates share that
    row's score when the driver counts ranks: 1, or on the first kept row tied with
    the part's k-th score, every candidate of the part tied with it that was not
    kept), ``real`` (False on a row standing for a part without candidates),
    ``path``, ``count`` (rows of the part) and ``cand`` (its candidates), the last two
    on the part's first row.
    """

    def __init__(self, *, strategy, k, id_column, feature_columns, model, exclude):
        super().__init__(
            strategy=strategy,
            k=k,
            id_column=id_column,
            proba_columns=(),
            feature_columns=feature_columns,
            model=model,
        )
        self.exclude = np.asarray(exclude, dtype=np.int64)

    def __call__(self, batch):
        ids_all = canonical_ids(batch[self.id_column])
        parts = []
        for path, rows in _by_shard(batch["path"]) if len(ids_all) else ():
            ids = ids_all[rows]
            keep = np.flatnonzero(~_excluded(ids, self.exclude))
            if isinstance(rows, slice):
                pos_rows = keep
            else:
                pos_rows = rows[keep]
            if keep.size == 0:  # nothing to score: one stand-in row carries the counts
                parts.append(
                    (ids[:1], np.zeros(1), np.zeros(1, np.int64), False, path, ids.size, 0)
                )
                continue
            try:
                scores = _chunked(UNCERTAINTY_SCORERS[self.strategy], self._proba(batch, pos_rows))
            except LabelwiseError as e:
                raise type(e)(f"{path}: {e}") from None
            scores = np.asarray(scores, dtype=np.float64)
            cid = ids[keep]
            pos = best_rows(cid, scores, self.k)
            weight = np.ones(pos.size, dtype=np.int64)
            if keep.size > self.k:  # the k-th score's ties beyond those kept count too
                kth = scores[pos[-1]]
                tied_kept = np.flatnonzero(scores[pos] == kth)
                weight[tied_kept[0]] += int((scores == kth).sum()) - tied_kept.size
            parts.append((cid[pos], scores[pos], weight, True, path, ids.size, keep.size))
        cols = {k: [] for k in ("id", "score", "weight", "real", "path", "count", "cand")}
        for pid, psc, pw, real, path, count, cand in parts:
            n = pid.size
            on_first = np.zeros((2, n), dtype=np.int64)
            on_first[:, 0] = count, cand
            cols["id"].append(pid)
            cols["score"].append(psc)
            cols["weight"].append(pw)
            cols["real"].append(np.full(n, real))
            cols["path"].append(np.full(n, path, dtype=object))
            cols["count"].append(on_first[0])
            cols["cand"].append(on_first[1])
        if not parts:
            return {
                "id": ids_all[:0],
                "score": np.empty(0),
                "weight": np.empty(0, np.int64),
                "real": np.empty(0, bool),
                "path": np.empty(0, dtype=object),
                "count": np.empty(0, np.int64),
                "cand": np.empty(0, np.int64),
            }
        return {k: np.concatenate(v) for k, v in cols.items()}


class _RankCounts:
    """Candidates per score value, for the values that can still be in the top ``k``."""

    def __init__(self):
        self.counts: dict[float, int] = {}

    def add(self, scores: np.ndarray, weights: np.ndarray) -> None:
        for s, w in zip(scores.tolist(), weights.tolist(), strict=True):
            self.counts[s] = self.counts.get(s, 0) + int(w)

    def prune(self, threshold: float) -> None:
        """Forget values under ``threshold`` (the running k-th best only rises)."""
        if len(self.counts) > _PRUNE_AT:
            self.counts = {s: c for s, c in self.counts.items() if s >= threshold}

    def at_least(self, values: np.ndarray) -> np.ndarray:
        keys = np.sort(np.fromiter(self.counts, dtype=np.float64))
        cum = np.cumsum([self.counts[k] for k in keys[::-1]])[::-1]  # candidates >= keys[i]
        at = np.searchsorted(keys, values, side="left")
        return cum[at]


def top_k_candidates(
    shards: ShardSet,
    *,
    strategy: str,
    k: int,
    model,
    exclude,
    engine: str = "local",
    address: str | None = None,
    rows_per_batch: int = ROWS_PER_BATCH,
    progress=None,
) -> CandidateResult:
    """The exact top ``k`` of ``strategy`` over the candidates (rows not in ``exclude``).

    Parameters
    ----------
    shards : ShardSet
        The pool, with its id and feature columns.
    strategy : str
        An uncertainty scorer (``margin``, ``entropy``, ...).
    k : int
    model : object with predict_proba
        Applied to the feature columns, batch by batch.
    exclude : array-like of int
        Ids that are not candidates.
    engine, address, rows_per_batch, progress
        As for :func:`labelwise.scale.score_shards`.
    """
    check_engine(engine)
    if strategy not in UNCERTAINTY_SCORERS:
        raise InvalidInputError(f"{strategy!r} is not an uncertainty scorer.")
    part = CandidateTopKPart(
        strategy=strategy,
        k=k,
        id_column=shards.id_column,
        feature_columns=shards.feature_columns,
        model=model,
        exclude=np.unique(np.asarray(exclude, dtype=np.int64)),
    )
    if progress is not None:
        progress.start(shards.n_rows, len(shards.paths))
    top, ranks = TopK(k), _RankCounts()
    seen = dict.fromkeys(shards.paths, 0)
    expected = dict(zip(shards.paths, shards.rows, strict=True))
    rows_done = n_cand = 0
    columns = [shards.id_column, *shards.feature_columns]
    for out in map_batches(
        shards, columns, part, engine=engine, batch_size=rows_per_batch, address=address
    ):
        real = out["real"].astype(bool)
        top.add(canonical_ids(out["id"][real]), out["score"][real])
        ranks.add(out["score"][real], out["weight"][real])
        if top.scores.size == k:
            ranks.prune(float(top.scores[-1]))
        for path, c in zip(out["path"].tolist(), out["count"].tolist(), strict=True):
            if c:
                seen[path] += c
                rows_done += c
        n_cand += int(out["cand"].sum())
        if progress is not None:
            progress.update(rows_done, sum(seen[p] == expected[p] for p in seen))
    if rows_done != shards.n_rows:
        raise InvalidInputError(
            f"scored {rows_done:,} rows but the shards' footers promised {shards.n_rows:,}; "
            "were the shards rewritten during the run?"
        )
    ids, scores = top.result()
    below = n_cand - ranks.at_least(scores) if ids.size else np.empty(0, np.int64)
    return CandidateResult(ids, scores, below, n_cand, shards.n_rows)


class _LabeledRows:
    """The id and feature columns of a batch's rows whose id is in ``wanted``."""

    def __init__(self, *, id_column, feature_columns, wanted):
        self.id_column = id_column
        self.feature_columns = list(feature_columns)
        self.wanted = np.asarray(wanted, dtype=np.int64)

    def __call__(self, batch):
        ids = canonical_ids(batch[self.id_column])
        hit = _excluded(ids, self.wanted)
        out = {"id": ids[hit]}
        for c in self.feature_columns:
            out[c] = np.asarray(batch[c][hit], dtype=np.float32)
        return out


class _KCenterCandidates:
    """One shard's greedy picks among its candidates, the labeled rows counting as centres."""

    def __init__(self, *, k, id_column, feature_columns, exclude, L):
        self.k = k
        self.id_column = id_column
        self.feature_columns = list(feature_columns)
        self.exclude = exclude
        self.L = L

    def __call__(self, path):
        from labelwise._validation import check_X

        cols = read_shard(path, [self.id_column, *self.feature_columns])
        ids = canonical_ids(cols[self.id_column])
        keep = np.flatnonzero(~_excluded(ids, self.exclude))
        d = len(self.feature_columns)
        if keep.size == 0:
            return ids[:0], np.empty((0, d), dtype=np.float32), 0.0, ids.size, 0
        try:
            X = check_X(np.column_stack([cols[c][keep] for c in self.feature_columns]))
        except LabelwiseError as e:
            raise type(e)(f"{path}: {e}") from None
        pos, _ = _greedy(X, ids[keep], self.L, self.k)
        radius = _radius(X, np.concatenate([self.L, X[pos]]))
        return ids[keep][pos], X[pos], radius, ids.size, keep.size


def _greedy(X, ids, L, k):
    """Positions of ``min(k, n)`` greedy picks in ``X`` and each pick's distance, from ``L``."""
    from labelwise.scale._coreset import greedy_k_center
    from labelwise.strategies._selectors import k_center_greedy_with_gain

    if L.shape[0] == 0:
        return greedy_k_center(X, ids, k)
    both = np.concatenate([L, X]).astype(np.float32, copy=False)
    nl = L.shape[0]
    idx, gain = k_center_greedy_with_gain(
        both,
        labeled=np.arange(nl),
        candidates=np.arange(nl, nl + X.shape[0]),
        batch_size=min(k, X.shape[0]),
    )
    return np.asarray(idx) - nl, np.asarray(gain, dtype=np.float64)


def _radius(X, centres) -> float:
    from labelwise.scale._coreset import covering_radius

    return covering_radius(X, centres)


def k_center_candidates(
    shards: ShardSet,
    *,
    k: int,
    exclude,
    labeled,
    engine: str = "local",
    address: str | None = None,
    progress=None,
) -> CandidateResult:
    """k-center greedy over the candidates, the ``labeled`` ids' rows counting as centres.

    Greedy per shard, then greedy on the union of the shards' picks (within 4x the
    exact greedy's covering radius; ``info`` has the a-posteriori bound).
    """
    check_engine(engine)
    if not shards.feature_columns:
        raise InvalidInputError(f"{shards.paths[0]}: no feature columns besides the id.")
    exclude = np.unique(np.asarray(exclude, dtype=np.int64))
    wanted = np.unique(np.asarray(labeled, dtype=np.int64))
    d = len(shards.feature_columns)
    L = np.empty((0, d), dtype=np.float32)
    if wanted.size:  # the labeled rows' features: O(labeled x dim) on the driver
        fn = _LabeledRows(
            id_column=shards.id_column, feature_columns=shards.feature_columns, wanted=wanted
        )
        got = list(
            map_batches(
                shards,
                [shards.id_column, *shards.feature_columns],
                fn,
                engine=engine,
                address=address,
            )
        )
        ids = np.concatenate([g["id"] for g in got]) if got else np.empty(0, np.int64)
        order = np.argsort(ids, kind="stable")
        L = (
            np.column_stack([np.concatenate([g[c] for g in got]) for c in shards.feature_columns])[
                order
            ]
            if ids.size
            else L
        )
    if progress is not None:
        progress.start(shards.n_rows, len(shards.paths))
    fn = _KCenterCandidates(
        k=k,
        id_column=shards.id_column,
        feature_columns=shards.feature_columns,
        exclude=exclude,
        L=L,
    )
    parts: dict[int, tuple] = {}
    rows_done = 0
    for i, part in map_shards(shards, fn, engine=engine, address=address):
        parts[i] = part
        rows_done += part[3]
        if progress is not None:
            progress.update(rows_done, len(parts))
    got = [parts[i] for i in sorted(parts) if parts[i][0].size]
    n_cand = sum(parts[i][4] for i in parts)
    if not got:
        raise InvalidInputError("nothing left to select: every row of the shards is taken.")
    ids = np.concatenate([p[0] for p in got])
    X = np.concatenate([p[1] for p in got])
    by_id = np.argsort(ids, kind="stable")  # the union in id order: independent of the engine
    ids, X = ids[by_id], X[by_id]
    pos, gain = _greedy(X, ids, L, k)
    union_radius = _radius(X, np.concatenate([L, X[pos]]))
    info = radius_info(max(p[2] for p in got), union_radius, ids.size)
    return CandidateResult(ids[pos], gain, None, n_cand, shards.n_rows, info)


class _RowsOf:
    """One shard's rows at local ``positions`` and its rows whose id is in ``wanted``."""

    def __init__(self, *, id_column, feature_columns, positions, wanted, batch_size):
        self.id_column = id_column
        self.feature_columns = list(feature_columns)
        self.positions = positions  # path -> sorted local row positions
        self.wanted = wanted
        self.batch_size = batch_size

    def __call__(self, path):
        from labelwise._validation import check_X
        from labelwise.scale._shards import read_batches

        local = self.positions.get(path, np.empty(0, np.int64))
        d = len(self.feature_columns)
        at_ids, at_X, hit_ids, hit_X = [], [], [], []
        start = 0
        for batch in read_batches(path, [self.id_column, *self.feature_columns], self.batch_size):
            ids = canonical_ids(batch[self.id_column])
            end = start + ids.size
            here = local[(local >= start) & (local < end)] - start
            hit = np.flatnonzero(_excluded(ids, self.wanted))
            rows = np.union1d(here, hit)
            if rows.size:
                try:
                    X = check_X(np.column_stack([batch[c][rows] for c in self.feature_columns]))
                except LabelwiseError as e:
                    raise type(e)(f"{path}: {e}") from None
                at = np.searchsorted(rows, here)
                at_ids.append(ids[here])
                at_X.append(X[at])
                at = np.searchsorted(rows, hit)
                hit_ids.append(ids[hit])
                hit_X.append(X[at])
            start = end
        empty = (np.empty(0, np.int64), np.empty((0, d), np.float32))
        pos = (np.concatenate(at_ids), np.concatenate(at_X)) if at_ids else empty
        got = (np.concatenate(hit_ids), np.concatenate(hit_X)) if hit_ids else empty
        return pos, got


def fetch_rows(
    shards: ShardSet,
    *,
    positions,
    ids,
    engine: str = "local",
    address: str | None = None,
    rows_per_batch: int = ROWS_PER_BATCH,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The feature rows at pool ``positions`` and the rows of ``ids``, in one pass.

    A row's pool position counts the rows of the shards before it (shards in path
    order, rows in file order: the sample order ``embed --shards`` writes).

    Parameters
    ----------
    shards : ShardSet
    positions : array-like of int
        Sorted, unique pool positions.
    ids : array-like of int
        Sample ids (each one in the pool).
    engine, address, rows_per_batch
        As for :func:`top_k_candidates`.

    Returns
    -------
    position_ids : ndarray of shape (n_positions,)
        The id at each position.
    X_positions : ndarray of shape (n_positions, n_features), float32
    X_ids : ndarray of shape (n_ids, n_features), float32
        The rows of ``ids``, in the order given.
    """
    check_engine(engine)
    if not shards.feature_columns:
        raise InvalidInputError(f"{shards.paths[0]}: no feature columns besides the id.")
    positions = np.asarray(positions, dtype=np.int64)
    ids = np.asarray(ids, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(shards.rows)])
    local = {}
    for i, path in enumerate(shards.paths):
        lo, hi = np.searchsorted(positions, starts[i : i + 2])
        local[path] = positions[lo:hi] - starts[i]
    fn = _RowsOf(
        id_column=shards.id_column,
        feature_columns=shards.feature_columns,
        positions=local,
        wanted=np.unique(ids),
        batch_size=rows_per_batch,
    )
    parts = dict(map_shards(shards, fn, engine=engine, address=address))
    got = [parts[i] for i in sorted(parts)]  # shard order: positions ascending
    pos_ids = np.concatenate([g[0][0] for g in got])
    X_pos = np.concatenate([g[0][1] for g in got])
    hit_ids = np.concatenate([g[1][0] for g in got])
    X_hit = np.concatenate([g[1][1] for g in got])
    if pos_ids.size != positions.size or np.unique(hit_ids).size != np.unique(ids).size:
        raise InvalidInputError(
            "the shards no longer hold the rows they held when scored; were they rewritten "
            "during the run?"
        )
    order = np.argsort(hit_ids, kind="stable")
    at = order[np.searchsorted(hit_ids[order], ids)]
    return pos_ids, X_pos, X_hit[at]
