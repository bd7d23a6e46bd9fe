"""Which production rows to label: the most drifted, uncertain or outlying, spread out.

Every batch row gets one score per signal, each in [0, 1] and on one scale: the
share of reference rows it exceeds (its uncertainty, its outlier distance, its
drift-classifier score, how far out it lies on a drifted feature), or how much
the share of its predicted class grew. When some tests fired, only their signals
count; otherwise all of them do. A row's score is its largest signal, and its
reason names the test behind it.

So that N picks do not all come from one cluster, the ``pool_factor * N`` best rows
(at least 50) are grouped by k-means into N clusters on the embeddings, the N picks
are shared among the clusters in proportion to their summed scores (largest
remainder), and each cluster gives its best rows; picks are ordered by score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["Pick", "pick_informative"]


@dataclass
class Pick:
    """One row to label: its position in the batch, its score, the test and why."""

    index: int
    score: float
    test: str
    reason: str
    scores: dict


def pick_informative(
    X,
    signals: Mapping[str, np.ndarray],
    n: int,
    *,
    reasons: Mapping[str, Callable[[int], str]],
    fired=(),
    candidates=None,
    pool_factor: int = 5,
    random_state=0,
) -> list[Pick]:
    """Pick ``n`` informative and diverse rows of the batch.

    Parameters
    ----------
    X : array-like of shape (n_batch, n_features)
        Embeddings of the batch rows (for the diversity step).
    signals : mapping of test name -> ndarray of shape (n_batch,)
        Per-row scores in [0, 1], higher = more informative.
    n : int
    reasons : mapping of test name -> callable(row index) -> str
    fired : collection of str
        Tests that fired; when any of them has a signal, only those count.
    candidates : array-like of int, optional
        Rows that may be picked (default: all).
    pool_factor : int, default=5
    random_state : int or None

    Returns
    -------
    picks : list of Pick
        ``min(n, n_candidates)`` picks, best first.
    """
    from labelwise.strategies._neighbors import kmeans
    from labelwise.strategies._selectors import _apportion

    X = np.asarray(X, dtype=np.float32)
    cand = np.arange(X.shape[0]) if candidates is None else np.asarray(candidates, dtype=np.intp)
    n = min(int(n), cand.size)
    if n <= 0 or not signals:
        return []
    used = [t for t in signals if t in set(fired)] or list(signals)
    S = np.stack([np.asarray(signals[t], dtype=np.float64) for t in used])
    best = S.argmax(axis=0)
    score = S.max(axis=0)
    order = cand[np.lexsort((cand, -score[cand]))]  # best first, ties by position
    top = order[: min(order.size, max(pool_factor * n, 50))]
    rng = np.random.default_rng(random_state)
    assign, _ = kmeans(X[top], n, rng)
    groups = [top[assign == c] for c in np.unique(assign)]
    weights = np.array([score[g].sum() for g in groups])
    counts = _apportion(np.array([g.size for g in groups]), n, weights)
    chosen = []
    for g, c in zip(groups, counts, strict=True):
        best_first = g[np.lexsort((g, -score[g]))]
        chosen.extend(int(i) for i in best_first[: int(c)])
    chosen.sort(key=lambda i: (-score[i], i))
    picks = []
    for i in chosen:
        t = used[int(best[i])]
        picks.append(
            Pick(
                i,
                float(score[i]),
                t,
                reasons[t](i),
                {u: float(S[j, i]) for j, u in enumerate(used)},
            )
        )
    return picks
