"""Batch selectors: turn scores (and features) into a batch of unique pool indices.

Every selector returns absolute indices into the pool, unique, a subset of the
candidates, ``min(batch_size, n_candidates)`` of them, in pick order (first =
most wanted). ``scores`` and other per-candidate arrays are aligned with
``candidates``; ``X`` always holds every row of the pool.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import rankdata

from labelwise._validation import (
    check_batch_size,
    check_indices,
    check_scores,
    check_X,
    resolve_candidates,
)
from labelwise.errors import EmptyPoolError, InvalidInputError
from labelwise.strategies._neighbors import kmeans

__all__ = [
    "top_k",
    "k_center_greedy",
    "kmeans_equal",
    "kmeans_proportional",
    "iterative_proximity",
    "weighted",
    "intersection",
    "class_balance",
]


def _one_blas_thread():
    """Limit BLAS to one thread for loops of small matrix-vector products."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _rng(random_state) -> np.random.Generator:
    return np.random.default_rng(random_state)


#: From this many scores on, top_positions first narrows them to a shortlist (see there).
_SHORTLIST_MIN_N = 65_536
#: Evenly spaced scores sampled to find the shortlist's threshold.
_SHORTLIST_SAMPLE = 8_192


def _shortlist(scores: np.ndarray, k: int) -> np.ndarray | None:
    """Ascending positions of every score >= t, for a t at most the k-th largest score.

    The threshold ``t`` is an order statistic of an evenly spaced sample, chosen so
    that about ``4 k + 64`` scores clear it; the shortlist is used only when at least
    ``k`` do, so it then holds every score above the k-th largest and every tie with
    it. None when the sample guessed too high, or when a quarter of the scores or more
    clear it (many ties): the caller then partitions the whole array.
    """
    n = scores.shape[0]
    if n < _SHORTLIST_MIN_N or k > n // 64:
        return None
    step = n // _SHORTLIST_SAMPLE
    sample = scores[::step]
    want = min(sample.size - 1, int((4 * k + 64) * sample.size / n) + 1)
    t = np.partition(sample, sample.size - 1 - want)[sample.size - 1 - want]
    pos = np.flatnonzero(scores >= t)
    return pos if k <= pos.size <= n // 4 else None


def top_positions(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the k highest scores, best first, ties broken at random. O(n).

    On large arrays one pass keeps a shortlist of the highest scores (a threshold
    from an evenly spaced sample); the partition then runs on the shortlist only.
    The result, the ties and the draws from ``rng`` are the same as without it.
    """
    n = scores.shape[0]
    k = min(k, n)
    if k == 0:
        return np.empty(0, dtype=np.intp)
    short = _shortlist(scores, k)
    if short is not None:
        return short[top_positions(scores[short], k, rng)]
    kth = np.partition(scores, n - k)[n - k]  # the k-th largest value
    above = np.flatnonzero(scores > kth)
    ties = np.flatnonzero(scores == kth)
    if ties.size > k - above.size:
        ties = rng.choice(ties, size=k - above.size, replace=False)
    chosen = np.concatenate([above, rng.permutation(ties)])
    return chosen[np.argsort(-scores[chosen], kind="stable")]


def _scored_candidates(scores, candidates) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    if candidates is None:
        cand = np.arange(s.shape[0] if s.ndim == 1 else 0, dtype=np.intp)
    else:
        cand = np.asarray(candidates, dtype=np.intp).ravel()
    return check_scores(s, cand.shape[0]), cand


def top_k(scores, *, batch_size: int, candidates=None, random_state=None) -> np.ndarray:
    """Take the ``batch_size`` highest-scoring candidates; ties broken by the generator.

    Runs in O(n) with a partition instead of a full sort.

    Parameters
    ----------
    scores : array-like of shape (n_candidates,)
        Higher = label first.
    batch_size : int
    candidates : array-like of shape (n_candidates,), default=None
        Pool indices the scores belong to; default ``arange(n_candidates)``.
    random_state : int, Generator or None

    Returns
    -------
    indices : ndarray of shape (min(batch_size, n_candidates),)

    References
    ----------
    Lewis, D. D. and Gale, W. A. (1994). A sequential algorithm for training text
    classifiers. SIGIR.

    Examples
    --------
    >>> top_k([0.1, 0.9, 0.5], batch_size=2)
    array([1, 2])
    """
    if candidates is None:  # positions are the indices: no arange of the pool
        s = check_scores(np.asarray(scores, dtype=np.float64))
        return top_positions(s, check_batch_size(batch_size), _rng(random_state))
    s, cand = _scored_candidates(scores, candidates)
    return cand[top_positions(s, check_batch_size(batch_size), _rng(random_state))]


def k_center_greedy(
    X, *, labeled, batch_size: int, candidates=None, random_state=None
) -> np.ndarray:
    """Core-set selection: repeatedly take the candidate farthest from labeled ∪ chosen.

    Memory is O(n): one running minimum distance per candidate. The picks are
    exactly those of the plain float64 greedy (ties to the candidate listed
    first), computed mostly in float32; see :func:`k_center_greedy_with_gain`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features or embeddings of the whole pool.
    labeled : array-like of int
        Indices of labeled rows (may be empty: the first pick is then random).
    batch_size : int
    candidates : array-like of int, default=None
        Rows to choose from; default every row not labeled.
    random_state : int, Generator or None

    Returns
    -------
    indices : ndarray of shape (min(batch_size, n_candidates),)

    References
    ----------
    Sener, O. and Savarese, S. (2018). Active learning for convolutional neural
    networks: a core-set approach. ICLR.

    Examples
    --------
    >>> X = [[0.0], [1.0], [10.0], [4.0]]
    >>> k_center_greedy(X, labeled=[0], batch_size=2)
    array([2, 3])
    """
    return k_center_greedy_with_gain(
        X,
        labeled=labeled,
        batch_size=batch_size,
        candidates=candidates,
        random_state=random_state,
    )[0]


def k_center_greedy_with_gain(X, *, labeled, batch_size, candidates=None, random_state=None):
    """Like :func:`k_center_greedy`, also returning each pick's distance at pick time.

    The distance of a random first pick (nothing labeled) is reported as 0.

    The picks are those of the plain float64 greedy (distances ``||x - y||`` of the
    rows as given; ties go to the candidate listed first), computed mostly in float32:

    - each candidate's distance to its nearest labeled row comes from blocked float32
      GEMMs (``x . y - ||y||**2 / 2``, BLAS threads on), never an n x n matrix;
    - the pick loop is lazy: a candidate's running minimum only ever falls, so a stale
      value is an upper bound, and only the candidates at the top are brought up to
      date with the picks made since (float32, squared norms precomputed);
    - every float32 squared distance is within a proven bound ``E`` of the float64
      one (``2 (d + 4) 2**-24 (||x|| + R)**2``, R the largest row norm); when more
      than one candidate lies within that bound of the maximum, the float64
      distances decide among them.
    """
    a = np.asarray(X)
    Xf = check_X(a)
    src = a if a.dtype in (np.float32, np.float64) else Xf  # what "exact" is measured on
    lab, cand = resolve_candidates(Xf.shape[0], labeled, candidates)
    b = min(check_batch_size(batch_size), cand.size)
    rng = _rng(random_state)
    return _KCenter(Xf, src, lab, cand).run(b, rng)


_U32 = 2.0**-24  # float32 unit roundoff
_GEMM_BLOCK = 1 << 22  # float32 entries of one block of the nearest-labeled GEMM (16 MiB)
_EXACT_BLOCK = 1 << 20  # float64 differences held at once by the exact distances


class _KCenter:
    """State of one k-center greedy run; positions index the candidates."""

    def __init__(self, Xf, src, lab, cand):
        self.Xf, self.src, self.lab, self.cand = Xf, src, lab, cand
        m, d = cand.size, Xf.shape[1]
        self.Xc = Xf[cand]
        self.sq = np.einsum("ij,ij->i", self.Xc, self.Xc, dtype=np.float64)
        norms = np.sqrt(self.sq)
        r = float(norms.max(initial=0.0))
        if lab.size:
            r = max(r, float(np.sqrt(np.einsum("ij,ij->i", Xf[lab], Xf[lab]).max())))
        # |float32 d2 - float64 d2| <= E: GEMM rounding (gamma_{d+1}) plus the float32
        # rounding of the inputs, both <= (d + 4) u (|x| + |y|)**2; doubled for safety
        self.err = 2.0 * (d + 4) * _U32 * (norms + r) ** 2 + 1e-300
        self.ub = np.full(m, np.inf)  # float32 squared distance to labeled ∪ chosen
        self.ver = np.zeros(m, dtype=np.intp)  # picks already folded into ub
        self.exact_lab = np.full(m, np.nan)  # float64 squared distance to labeled (cache)
        self.chosen: list[int] = []

    def nearest_labeled(self) -> None:
        """Set ``ub`` to the float32 squared distance to the nearest labeled row (blocked GEMM)."""
        L = self.Xf[self.lab]
        half = 0.5 * np.einsum("ij,ij->i", L, L, dtype=np.float64)
        La = np.ascontiguousarray(np.hstack([L, -half[:, None].astype(np.float32)]).T)
        rows = max(64, _GEMM_BLOCK // max(1, self.lab.size))
        m, d = self.Xc.shape
        buf = np.empty((min(rows, m), d + 1), dtype=np.float32)
        buf[:, d] = 1.0
        for s in range(0, m, rows):
            e = min(m, s + rows)
            blk = buf[: e - s]
            blk[:, :d] = self.Xc[s:e]
            g = (blk @ La).max(axis=1)  # max_j x . y_j - |y_j|**2 / 2
            self.ub[s:e] = np.maximum(self.sq[s:e] - 2.0 * g.astype(np.float64), 0.0)

    def refresh(self, rows: np.ndarray, t: int) -> None:
        """Fold the picks each of ``rows`` has not seen yet into its ub."""
        if rows.size == 0:
            return
        first = int(self.ver[rows].min())
        if first < t:
            C = self.Xc[self.chosen[first:t]]
            g = self.Xc[rows] @ C.T  # float32; older picks in it change nothing
            d2 = self.sq[rows, None] + self.sq[self.chosen[first:t]][None, :] - 2.0 * g
            self.ub[rows] = np.minimum(self.ub[rows], np.maximum(d2.min(axis=1), 0.0))
        self.ver[rows] = t

    def exact(self, rows: np.ndarray) -> np.ndarray:
        """float64 distance of ``rows`` to labeled ∪ chosen, summed as the plain greedy does."""
        todo = rows[np.isnan(self.exact_lab[rows])]
        if todo.size:
            self.exact_lab[todo] = _exact_min_d2(self.src, self.cand[todo], self.lab)
        d2 = self.exact_lab[rows]
        if self.chosen:
            d2 = np.minimum(d2, _exact_min_d2(self.src, self.cand[rows], self.cand[self.chosen]))
        return np.sqrt(d2)

    def run(self, b: int, rng: np.random.Generator):
        m = self.cand.size
        picks = np.empty(b, dtype=np.intp)
        gains = np.empty(b)
        start = 0
        if self.lab.size:
            self.nearest_labeled()
        else:  # nothing labeled: a random first pick, as before
            j = int(rng.integers(m))
            picks[0], gains[0] = j, 0.0
            self.chosen.append(j)
            self.ub[j] = -np.inf
            start = 1
            self.refresh(np.flatnonzero(self.ub > -np.inf), 1)
        with _one_blas_thread():  # small products only: threads would only wait
            for t in range(start, b):
                j, gain = self.pick(t)
                picks[t], gains[t] = j, gain
                self.chosen.append(j)
                self.ub[j] = -np.inf  # never pick twice
                self.ver[j] = m + b
        return self.cand[picks], gains

    def pick(self, t: int) -> tuple[int, float]:
        ub, err = self.ub, self.err
        while True:  # bring the top up to date until the maximum is current
            i = int(np.argmax(ub))
            if self.ver[i] >= t:
                break
            self.refresh(np.flatnonzero((ub + err >= ub[i] - err[i]) & (self.ver < t)), t)
        # every candidate that may be the float64 maximum: within the bounds of ub[i]
        band = np.flatnonzero(ub + err >= ub[i] - err[i])
        stale = band[self.ver[band] < t]
        if stale.size:
            self.refresh(stale, t)
            band = np.flatnonzero(ub + err >= ub[i] - err[i])
        if band.size == 1:
            return i, float(np.sqrt(max(ub[i], 0.0)))
        d = self.exact(band)
        k = int(np.argmax(d))  # band is ascending: ties go to the first candidate
        return int(band[k]), float(d[k])


def _exact_min_d2(src: np.ndarray, rows: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """float64 ``min_c sum((x - c)**2)`` for each of ``rows`` (pool indices), in blocks."""
    out = np.full(rows.size, np.inf)
    d = src.shape[1]
    step = max(1, _EXACT_BLOCK // max(1, d * rows.size))
    x = src[rows].astype(np.float64)
    for s in range(0, centres.size, step):
        c = src[centres[s : s + step]].astype(np.float64)
        diff = x[:, None, :] - c[None, :, :]
        np.minimum(out, (diff * diff).sum(axis=2).min(axis=1), out=out)
    return out


def _round_robin(groups: list[np.ndarray], b: int) -> np.ndarray:
    """Take one from each group in turn (each already sorted best first) until b are taken."""
    out: list[int] = []
    depth = 0
    while len(out) < b:
        took = False
        for g in groups:
            if depth < g.size:
                out.append(int(g[depth]))
                took = True
                if len(out) == b:
                    break
        if not took:
            break
        depth += 1
    return np.asarray(out, dtype=np.intp)


def kmeans_equal(
    X, *, batch_size: int, labeled=None, candidates=None, n_clusters=None, random_state=None
) -> np.ndarray:
    """Cluster the pool into K groups; take the same number from each, nearest the centre first.

    Labeled rows take part in the clustering but are never picked. When a
    cluster runs out of candidates, the others fill its share.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    batch_size : int
    labeled, candidates : array-like of int, default=None
    n_clusters : int, default=None
        K; default ``batch_size``. The registered strategy passes the number of classes.
    random_state : int, Generator or None

    Returns
    -------
    indices : ndarray of shape (min(batch_size, n_candidates),)

    References
    ----------
    Encord Active, "image diversity" acquisition function (2023).

    Examples
    --------
    >>> X = [[0.0], [0.2], [0.3], [5.0], [5.2], [5.3]]
    >>> sorted(kmeans_equal(X, batch_size=2, n_clusters=2, random_state=0).tolist())
    [1, 4]
    """
    Xf = check_X(X)
    lab, cand = resolve_candidates(Xf.shape[0], labeled, candidates)
    b = min(check_batch_size(batch_size), cand.size)
    rng = _rng(random_state)
    k = b if n_clusters is None else int(n_clusters)
    assign, dist = kmeans(Xf, k, rng)
    is_cand = np.zeros(Xf.shape[0], dtype=bool)
    is_cand[cand] = True
    groups = []
    for c in range(int(assign.max()) + 1):
        members = np.flatnonzero((assign == c) & is_cand)
        groups.append(members[np.argsort(dist[members], kind="stable")])
    groups.sort(key=lambda g: -g.size)
    return _round_robin(groups, b)


def _apportion(sizes: np.ndarray, b: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Split b picks over groups ∝ weights (default sizes), capped by sizes; largest remainder."""
    sizes = sizes.astype(np.int64)
    quota = np.zeros_like(sizes)
    w = (sizes if weights is None else weights).astype(np.float64)
    remaining = min(b, int(sizes.sum()))
    while remaining > 0:
        open_ = (quota < sizes) & (w > 0)
        if not open_.any():
            open_ = quota < sizes
            w = np.ones_like(w)
        share = np.where(open_, w, 0.0)
        ideal = remaining * share / share.sum()
        room = sizes - quota
        full = open_ & (ideal >= room)
        if full.any():  # these groups cannot take their share: fill them, split the rest anew
            quota[full] = sizes[full]
            remaining -= int(room[full].sum())
            continue
        # largest remainder: floors first, then one more for the largest fractional parts
        add = np.floor(ideal).astype(np.int64)
        left = remaining - int(add.sum())
        frac = np.where(open_, ideal - add, -1.0)
        add[np.argsort(-frac, kind="stable")[:left]] += 1
        quota += add
        remaining -= int(add.sum())
    return quota


def kmeans_proportional(
    scores, X, *, batch_size: int, candidates=None, n_clusters=None, random_state=None
) -> np.ndarray:
    """Cluster the candidates; picks per cluster ∝ its size, highest score first inside each.

    Parameters
    ----------
    scores : array-like of shape (n_candidates,)
    X : array-like of shape (n_samples, n_features)
    batch_size : int
    candidates : array-like of int, default=None
        Default ``arange(n_samples)``.
    n_clusters : int, default=None
        Default ``min(batch_size, 10)``; the registered strategy passes the number of classes.
    random_state : int, Generator or None

    Returns
    -------
    indices : ndarray of shape (min(batch_size, n_candidates),)

    References
    ----------
    SpaceML / NASA IMPACT, "Active labeler" diversity sampler (2021).
    Zhdanov, F. (2019). Diverse mini-batch active learning. arXiv:1901.05954.

    Examples
    --------
    >>> X = [[0.0], [0.1], [9.0], [9.1]]
    >>> kmeans_proportional([0.1, 0.9, 0.5, 0.3], X, batch_size=2, n_clusters=2,
    ...                     random_state=0).tolist()
    [1, 2]
    """
    Xf = check_X(X)
    s, cand = _scored_candidates(scores, None if candidates is None else candidates)
    if candidates is None:
        cand = np.arange(Xf.shape[0], dtype=np.intp)
        s = check_scores(s, cand.size)
    cand = check_indices(cand, Xf.shape[0], name="candidates")
    b = min(check_batch_size(batch_size), cand.size)
    rng = _rng(random_state)
    k = min(b, 10) if n_clusters is None else int(n_clusters)
    assign, _ = kmeans(Xf[cand], k, rng)
    n_groups = int(assign.max()) + 1
    sizes = np.bincount(assign, minlength=n_groups)
    quota = _apportion(sizes, b)
    chosen = []
    for c in range(n_groups):
        members = np.flatnonzero(assign == c)
        chosen.append(members[top_positions(s[members], int(quota[c]), rng)])
    pos = np.concatenate(chosen)
    return cand[pos[np.argsort(-s[pos], kind="stable")]]


def _minmax(a: np.ndarray) -> np.ndarray:
    lo, hi = a.min(), a.max()
    return np.zeros_like(a) if hi - lo <= 0 else (a - lo) / (hi - lo)


def iterative_proximity(
    scores, X, *, batch_size: int, candidates=None, random_state=None
) -> np.ndarray:
    """Pick one at a time; after each pick, add a distance-to-chosen term in [-0.3, 0.3].

    Scores are min-max normalised to [0, 1]; each candidate's distance to its
    nearest already-chosen sample is min-max scaled to [-0.3, 0.3] and added, so
    candidates close to the batch so far sink and distant ones rise.

    Parameters
    ----------
    scores : array-like of shape (n_candidates,)
    X : array-like of shape (n_samples, n_features)
    batch_size : int
    candidates : array-like of int, default=None
        Default ``arange(n_samples)``.
    random_state : int, Generator or None
        Breaks ties of the first pick.

    Returns
    -------
    indices : ndarray of shape (min(batch_size, n_candidates),)

    References
    ----------
    SpaceML / NASA IMPACT, "Active labeler" iterative proximity diversifier (2021).

    Examples
    --------
    >>> X = [[0.0], [0.1], [5.0], [6.0]]
    >>> iterative_proximity([1.0, 0.95, 0.9, 0.0], X, batch_size=2).tolist()
    [0, 2]
    """
    Xf = check_X(X)
    cand = np.arange(Xf.shape[0]) if candidates is None else np.asarray(candidates)
    cand = check_indices(cand, Xf.shape[0], name="candidates")
    s = check_scores(scores, cand.size)
    b = min(check_batch_size(batch_size), cand.size)
    rng = _rng(random_state)
    base = _minmax(s)
    Xc = Xf[cand]
    sq = np.einsum("ij,ij->i", Xc, Xc, dtype=np.float64)
    min_d = np.full(cand.size, np.inf)
    taken = np.zeros(cand.size, dtype=bool)
    picks = np.empty(b, dtype=np.intp)
    with _one_blas_thread():
        for t in range(b):
            if t == 0:
                total = base.copy()
            else:
                total = base + (_minmax(min_d) * 0.6 - 0.3)
            total[taken] = -np.inf
            j = int(top_positions(total, 1, rng)[0])
            picks[t], taken[j] = j, True
            x = Xc[j]
            d2 = sq + float(x @ x.astype(np.float64)) - 2.0 * (Xc @ x).astype(np.float64)
            np.minimum(min_d, np.sqrt(np.maximum(d2, 0.0)), out=min_d)
    return cand[picks]


def _check_criteria(criteria: Mapping, candidates) -> tuple[dict, np.ndarray]:
    if not isinstance(criteria, Mapping) or not criteria:
        raise InvalidInputError(
            "criteria must be a non-empty mapping of criterion name -> scores, "
            "e.g. {'margin': m, 'novelty': d}."
        )
    arrays = {str(k): np.asarray(v, dtype=np.float64) for k, v in criteria.items()}
    n = next(iter(arrays.values())).shape[0] if next(iter(arrays.values())).ndim else 0
    cand = np.arange(n, dtype=np.intp) if candidates is None else np.asarray(candidates).ravel()
    if cand.size == 0:
        raise EmptyPoolError("The pool is empty: there are no candidates to select from.")
    return {k: check_scores(v, cand.size, name=f"criterion {k!r}") for k, v in arrays.items()}, cand


def rank_normalize(s: np.ndarray) -> np.ndarray:
    """Ranks scaled to (0, 1]: the highest score gets 1, ties share their mean rank."""
    return rankdata(s, method="average") / s.shape[0]


def weighted(
    criteria, *, strengths=None, batch_size: int, candidates=None, random_state=None
) -> np.ndarray:
    """Combine rank-normalised criteria with user strengths and take the top of the sum.

    Parameters
    ----------
    criteria : mapping of str to array-like of shape (n_candidates,)
        Each criterion's scores, higher = label first (uncertainty, typicality,
        novelty, or a metadata column such as sharpness).
    strengths : mapping of str to float, default=None
        Weight of each criterion (default 1 each). A negative strength prefers
        low values of that criterion (e.g. labeling cost).
    batch_size : int
    candidates : array-like of int, default=None
    random_state : int, Generator or None

    Returns
    -------
    indices : ndarray of shape (min(batch_size, n_candidates),)

    References
    ----------
    Lightly, "Selection: strengths of weighted scorers" (2023).

    Examples
    --------
    >>> weighted({"u": [0.9, 0.1, 0.6, 0.5], "n": [0.0, 1.0, 0.9, 0.2]},
    ...          strengths={"u": 1.0, "n": 1.0}, batch_size=1).tolist()
    [2]
    """
    crit, cand = _check_criteria(criteria, candidates)
    strengths = {} if strengths is None else dict(strengths)
    unknown = set(strengths) - set(crit)
    if unknown:
        raise InvalidInputError(
            f"strengths name unknown criteria {sorted(unknown)}; known: {sorted(crit)}."
        )
    w = {k: float(strengths.get(k, 1.0)) for k in crit}
    total_w = sum(abs(v) for v in w.values())
    if total_w == 0 or not all(np.isfinite(list(w.values()))):
        raise InvalidInputError("strengths must be finite and not all zero.")
    combined = (
        sum(
            (wk * rank_normalize(crit[k]) if wk >= 0 else -wk * rank_normalize(-crit[k]))
            for k, wk in w.items()
        )
        / total_w
    )
    return cand[top_positions(combined, check_batch_size(batch_size), _rng(random_state))]


def intersection(criteria, *, batch_size: int, candidates=None, random_state=None) -> np.ndarray:
    """Samples in the top set of every criterion, the top sets widened until the batch is full.

    The top-m sets of all criteria (by rank) are intersected for the smallest m
    that yields ``batch_size`` samples; inside the intersection the samples with
    the best mean rank come first.

    Parameters
    ----------
    criteria : mapping of str to array-like of shape (n_candidates,)
        E.g. ``{"margin": ..., "diversity": ..., "novelty": ...}``.
    batch_size : int
    candidates : array-like of int, default=None
    random_state : int, Generator or None

    Returns
    -------
    indices : ndarray of shape (min(batch_size, n_candidates),)

    References
    ----------
    SpaceML / NASA IMPACT, "Active labeler" (2021): uncertainty ∩ diversity ∩ novelty.

    Examples
    --------
    >>> intersection({"u": [0.9, 0.8, 0.1, 0.7], "n": [0.1, 0.9, 0.8, 0.7]},
    ...              batch_size=1).tolist()
    [1]
    """
    crit, cand = _check_criteria(criteria, candidates)
    b = min(check_batch_size(batch_size), cand.size)
    rng = _rng(random_state)
    # rank 0 = best; ties broken at random so that the widening is deterministic per seed
    ranks = []
    for s in crit.values():
        order = top_positions(s, s.size, rng)
        r = np.empty(s.size, dtype=np.int64)
        r[order] = np.arange(s.size)
        ranks.append(r)
    worst = np.max(ranks, axis=0)  # in every top-m set iff worst rank < m
    m = int(np.sort(worst)[b - 1]) + 1  # smallest m whose intersection holds b samples
    inside = np.flatnonzero(worst < m)
    mean_rank = np.mean(ranks, axis=0)[inside]
    pos = inside[top_positions(-mean_rank, b, rng)]
    return cand[pos]


def class_balance(
    scores, predicted, *, batch_size: int, candidates=None, target=None, random_state=None
) -> np.ndarray:
    """Meet target ratios per *predicted* class as closely as the pool allows.

    Each class gets a quota (largest-remainder apportionment of the target
    ratios, capped by how many candidates the model predicts for it; what a
    class cannot fill goes to the others); inside a class the highest scores go
    first. Uses predictions only, never ground truth.

    Parameters
    ----------
    scores : array-like of shape (n_candidates,)
    predicted : array-like of shape (n_candidates,)
        Predicted class of each candidate.
    batch_size : int
    candidates : array-like of int, default=None
    target : mapping of class to float, default=None
        Desired share of each class; default uniform over the predicted classes.
    random_state : int, Generator or None

    Returns
    -------
    indices : ndarray of shape (min(batch_size, n_candidates),)

    References
    ----------
    Aggarwal, U., Popescu, A. and Hudelot, C. (2020). Active learning for
    imbalanced datasets. WACV.

    Examples
    --------
    >>> class_balance([0.9, 0.8, 0.7, 0.1], ["a", "a", "a", "b"], batch_size=2).tolist()
    [0, 3]
    """
    s, cand = _scored_candidates(scores, candidates)
    pred = np.asarray(predicted)
    if pred.shape != (cand.size,):
        raise InvalidInputError(
            f"predicted must have one class per candidate ({cand.size}), got shape {pred.shape}."
        )
    b = min(check_batch_size(batch_size), cand.size)
    rng = _rng(random_state)
    classes, codes = np.unique(pred, return_inverse=True)
    sizes = np.bincount(codes, minlength=classes.size)
    if target is None:
        weights = np.ones(classes.size)
    else:
        target = dict(target)
        bad = [k for k, v in target.items() if not np.isfinite(v) or v < 0]
        if bad or sum(target.values()) <= 0:
            raise InvalidInputError(
                "target ratios must be non-negative, finite and not all zero; "
                f"check {bad or list(target)}."
            )
        weights = np.array([float(target.get(c, 0.0)) for c in classes.tolist()])
    quota = _apportion(sizes, b, weights)
    chosen = []
    for c in range(classes.size):
        members = np.flatnonzero(codes == c)
        chosen.append(members[top_positions(s[members], int(quota[c]), rng)])
    pos = np.concatenate(chosen)
    return cand[pos[np.argsort(-s[pos], kind="stable")]]
