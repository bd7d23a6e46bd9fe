"""Batch selectors that trade uncertainty against diversity: ranked batch and BADGE.

Like every selector they return absolute pool indices, unique, a subset of the
candidates, ``min(batch_size, n_candidates)`` of them, in pick order. Memory is
O(n): one running distance per candidate, updated with a matrix-vector product
after each pick, never an n x n matrix.
"""

from __future__ import annotations

import numpy as np

from labelwise._validation import (
    check_batch_size,
    check_indices,
    check_proba,
    check_scores,
    check_X,
    resolve_candidates,
)
from labelwise.errors import EmptyPoolError, InvalidInputError
from labelwise.strategies._neighbors import nearest_distance
from labelwise.strategies._selectors import top_positions

__all__ = ["ranked_batch", "badge", "gradient_embedding"]


def _sq_dist_to(Xc: np.ndarray, sq: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances from every row of ``Xc`` to ``x`` (float64, >= 0)."""
    d2 = sq + float(x @ x.astype(np.float64)) - 2.0 * (Xc @ x).astype(np.float64)
    return np.maximum(d2, 0.0)


def ranked_batch(
    scores, X, *, labeled, batch_size: int, candidates=None, random_state=None
) -> np.ndarray:
    """Ranked batch-mode selection: uncertainty against similarity to labeled ∪ chosen.

    Picks one candidate at a time, the argmax of::

        alpha * (1 - sim(x)) + (1 - alpha) * u(x)
        alpha = n_unlabeled / (n_unlabeled + n_labeled)

    where ``u`` is the given score, ``sim(x) = 1 / (1 + d(x))`` with ``d(x)`` the
    Euclidean distance from ``x`` to its nearest labeled or already chosen row,
    ``n_unlabeled`` the number of candidates not chosen yet and ``n_labeled`` the
    number of labeled rows plus the picks so far (each pick moves from the
    unlabeled to the labeled side, so ``alpha`` shrinks as the batch grows). With
    a large unlabeled pool diversity dominates; as labels accumulate, uncertainty
    takes over. The distance term lies in ``[0, 1)``, so scores on a ``[0, 1]``
    scale (e.g. ``least_confidence`` or normalised ``entropy``) weigh the same.

    With nothing labeled, the first pick is the candidate nearest the candidates'
    mean, i.e. the one with the least mean squared distance to the others: the
    O(n) counterpart of the paper's cold start (least mean distance to the pool).

    Parameters
    ----------
    scores : array-like of shape (n_candidates,)
        Uncertainty of each candidate, higher = more uncertain, aligned with
        ``candidates``.
    X : array-like of shape (n_samples, n_features)
        Features or embeddings of the whole pool.
    labeled : array-like of int
        Indices of labeled rows (may be empty).
    batch_size : int
    candidates : array-like of int, default=None
        Rows to choose from; default every row not labeled.
    random_state : int, Generator or None
        Breaks exact ties.

    Returns
    -------
    indices : ndarray of shape (min(batch_size, n_candidates),)

    References
    ----------
    Cardoso, T. N. C., Silva, R. M., Canuto, S., Moro, M. M. and Gonçalves, M. A.
    (2017). Ranked batch-mode active learning. Information Sciences 379, 313-337.

    Examples
    --------
    >>> X = [[0.0], [0.1], [5.0], [0.2]]
    >>> ranked_batch([0.9, 0.2, 0.8], X, labeled=[0], batch_size=2).tolist()
    [2, 1]
    """
    Xf = check_X(X)
    lab, cand = resolve_candidates(Xf.shape[0], labeled, candidates)
    u = check_scores(scores, cand.size)
    b = min(check_batch_size(batch_size), cand.size)
    rng = np.random.default_rng(random_state)
    Xc = Xf[cand]
    sq = np.einsum("ij,ij->i", Xc, Xc, dtype=np.float64)
    if lab.size:
        min_d = nearest_distance(Xc, Xf[lab])
    else:
        min_d = None
    taken = np.zeros(cand.size, dtype=bool)
    picks = np.empty(b, dtype=np.intp)
    for t in range(b):
        if min_d is None:  # cold start: nearest the candidates' mean
            centre = Xc.mean(axis=0, dtype=np.float64).astype(np.float32)
            total = -_sq_dist_to(Xc, sq, centre)
            min_d = np.full(cand.size, np.inf)
        else:
            n_unlabeled = cand.size - t
            alpha = n_unlabeled / (n_unlabeled + lab.size + t)
            total = alpha * (1.0 - 1.0 / (1.0 + min_d)) + (1.0 - alpha) * u
        total[taken] = -np.inf
        j = int(top_positions(total, 1, rng)[0])
        picks[t], taken[j] = j, True
        np.minimum(min_d, np.sqrt(_sq_dist_to(Xc, sq, Xc[j])), out=min_d)
    return cand[picks]


def gradient_embedding(proba, X) -> np.ndarray:
    """BADGE gradient embeddings of a softmax/linear last layer for the predicted label.

    For logits ``z = W x`` and ``p = softmax(z)``, the gradient of the
    cross-entropy ``-log p_yhat`` with respect to ``W`` (shape
    ``(n_classes, n_features)``) at the hypothetical label ``yhat = argmax p`` is
    ``(p - onehot(yhat)) ⊗ x``; it is returned flattened row-major, so entry
    ``c * n_features + j`` is ``(p_c - [c == yhat]) * x_j``. Its norm is large
    when the model is uncertain and the sample is far from the origin.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities (the ``p`` above); ties in ``argmax`` go to
        the first class.
    X : array-like of shape (n_samples, n_features)
        Input of the last layer: the penultimate-layer embedding of a network,
        or the features of a linear model.

    Returns
    -------
    grad_embeddings : ndarray of shape (n_samples, n_classes * n_features), float32
        Written in place into one float32 array: memory O(n_samples * n_classes *
        n_features), no larger temporary.

    References
    ----------
    Ash, J. T., Zhang, C., Krishnamurthy, A., Langford, J. and Agarwal, A.
    (2020). Deep batch active learning by diverse, uncertain gradient lower
    bounds. ICLR.

    Examples
    --------
    >>> gradient_embedding([[0.75, 0.25]], [[2.0, 4.0]])
    array([[-0.5, -1. ,  0.5,  1. ]], dtype=float32)
    """
    p = check_proba(proba)
    Xf = check_X(X)
    if p.shape[0] != Xf.shape[0]:
        raise InvalidInputError(
            f"proba has {p.shape[0]} rows but X has {Xf.shape[0]}; pass one probability row "
            "per sample, in the same order."
        )
    n, c = p.shape
    a = p.astype(np.float32)
    a[np.arange(n), p.argmax(axis=1)] -= 1.0
    out = np.empty((n, c, Xf.shape[1]), dtype=np.float32)
    np.multiply(a[:, :, None], Xf[:, None, :], out=out)
    return out.reshape(n, c * Xf.shape[1])


def badge(grad_embeddings, *, batch_size: int, random_state=None, candidates=None) -> np.ndarray:
    """BADGE: k-means++ seeding on gradient embeddings (uncertain *and* diverse).

    The first pick is the candidate with the largest gradient norm (the most
    uncertain, as in the authors' code); each further pick is drawn with
    probability proportional to its squared distance to the nearest pick so far
    (D² sampling). Already picked rows have distance 0 and are never drawn again;
    if every remaining distance is 0 (duplicates), the rest are drawn uniformly.

    Memory is O(n): one running squared distance per candidate, updated with a
    matrix-vector product per pick; the embeddings are copied only when
    ``candidates`` is a proper subset of the rows.

    Parameters
    ----------
    grad_embeddings : array-like of shape (n_samples, n_dims)
        Gradient embeddings of the pool, e.g. from :func:`gradient_embedding`.
    batch_size : int
    random_state : int, Generator or None
        Seeds the D² sampling (and breaks ties of the first pick).
    candidates : array-like of int, default=None
        Rows to choose from; default every row.

    Returns
    -------
    indices : ndarray of shape (min(batch_size, n_candidates),)

    References
    ----------
    Ash, J. T., Zhang, C., Krishnamurthy, A., Langford, J. and Agarwal, A.
    (2020). Deep batch active learning by diverse, uncertain gradient lower
    bounds. ICLR.
    Arthur, D. and Vassilvitskii, S. (2007). k-means++: the advantages of careful
    seeding. SODA.

    Examples
    --------
    >>> G = [[0.1, 0.0], [3.0, 0.0], [0.0, 0.2], [2.9, 0.1]]
    >>> int(badge(G, batch_size=2, random_state=0)[0])
    1
    """
    G = check_X(grad_embeddings, name="grad_embeddings")
    n = G.shape[0]
    if candidates is None:
        cand = np.arange(n, dtype=np.intp)
        Gc = G
    else:
        cand = check_indices(candidates, n, name="candidates")
        Gc = G if np.array_equal(cand, np.arange(n)) else G[cand]
    if cand.size == 0:
        raise EmptyPoolError("The pool is empty: there are no candidates to select from.")
    b = min(check_batch_size(batch_size), cand.size)
    rng = np.random.default_rng(random_state)
    sq = np.einsum("ij,ij->i", Gc, Gc, dtype=np.float64)
    picks = np.empty(b, dtype=np.intp)
    j = int(top_positions(sq, 1, rng)[0])
    picks[0] = j
    min_d2 = _sq_dist_to(Gc, sq, Gc[j])
    min_d2[j] = 0.0
    for t in range(1, b):
        cum = np.cumsum(min_d2)
        total = float(cum[-1])
        if total > 0 and np.isfinite(total):
            j = int(np.searchsorted(cum, rng.random() * total, side="right"))
            if j >= cand.size or min_d2[j] <= 0:  # u * total rounded up to total
                j = int(np.flatnonzero(min_d2 > 0)[-1])
        else:  # every remaining candidate coincides with a pick
            free = np.ones(cand.size, dtype=bool)
            free[picks[:t]] = False
            j = int(rng.choice(np.flatnonzero(free)))
        picks[t] = j
        np.minimum(min_d2, _sq_dist_to(Gc, sq, Gc[j]), out=min_d2)
        min_d2[picks[: t + 1]] = 0.0
    return cand[picks]
