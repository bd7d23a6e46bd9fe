"""``auto``: the default strategy when a model gives probabilities.

Margin sampling is the strongest simple baseline (Lu et al. 2023); ``auto``
keeps it where nothing measured better and switches where something did
(``benchmarks/bench_auto.py``):

1. **margin** (batches under ``badge_from``, 50): the smallest gap between the two
   likeliest classes.
2. **cluster_margin** (batches of 50 or more): among the ``2 * batch`` smallest
   margins, picks round-robin over k-means clusters of about 20 pool rows, the
   cluster holding the fewest of them first (Citovsky et al. 2021): uncertain *and*
   diverse, so a batch does not spend labels on near-duplicates. On optdigits
   (batch 100, 10 seeds) it reached 99 % of the full-pool accuracy with 420 labels
   where margin and BADGE (the rule before it) needed 520; on 14 KEEL sets never
   tuned on its AUBC was at least margin's on 11 (BADGE's on 10, with a larger mean
   gain: ``benchmarks/results/auto_heldout.json``). BADGE lost to margin at batch 10.
   A network's own gradient embeddings (``embedding``) still go to **badge**
   (k-means++ seeding on them, Ash et al. 2020).
3. **typical** (off by default): while the labeled set has fewer than
   ``early_per_class`` labels per class, the most typical candidate of each
   label-free k-means cluster (TypiClust, Hacohen et al. 2022); with 20 initial
   labels it lost to margin on the sets it was tried on.

With a labeling cost, a batch ranks by margin / cost (as every top-k strategy).
Every pick names the part that chose it.
"""

from __future__ import annotations

import numpy as np

from labelwise._validation import (
    check_batch_size,
    check_indices,
    check_proba,
    check_scores,
    check_X,
)
from labelwise.errors import InvalidInputError, shorten
from labelwise.strategies._batch import badge
from labelwise.strategies._cluster_margin import cluster_margin, interleave
from labelwise.strategies._density import typicality
from labelwise.strategies._neighbors import kmeans
from labelwise.strategies._selectors import top_positions
from labelwise.strategies._uncertainty import margin

__all__ = ["AUTO_PARTS", "auto"]

#: What each part of ``auto`` writes into the reason of the picks it chose.
AUTO_PARTS = {
    "typical": "auto/typical: most typical sample of a cluster with no label yet",
    "margin": "auto/margin: the two likeliest classes are closest",
    "cluster_margin": "auto/cluster_margin: among the smallest margins, round-robin over "
    "k-means clusters (uncertain and diverse)",
    "badge": "auto/badge: k-means++ pick on the network's gradient embeddings (uncertain and "
    "diverse)",
}

EARLY_PER_CLASS = 0.0
#: The smallest batch the diverse part (cluster-margin) picks; smaller batches take margin's
#: top (measured: BADGE tied or beat margin at batch 100 on digits, breast_cancer and
#: segment, and lost on digits at batch 10 and in the digits demo at batch 10).
BADGE_FROM = 50
#: Cluster-margin chooses a batch among this many times ``batch_size`` smallest margins
#: (measured on optdigits, batch 100: 2 and 3 beat BADGE, 5 and 10 did not).
TOP_FACTOR = 2


def _check_number(value, name: str, *, integer: bool) -> float:
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)
    if ok and integer:
        ok = float(value) == int(value) and value >= 1
    if not ok or not np.isfinite(value) or value < 0:
        kind = "a positive integer" if integer else "a number >= 0"
        raise InvalidInputError(f"{name} must be {kind}, got {shorten(value)}.")
    return float(value)


def auto(
    proba,
    X,
    *,
    batch_size: int,
    labeled=None,
    candidates=None,
    n_classes: int | None = None,
    early_per_class: float = EARLY_PER_CLASS,
    badge_from: int = BADGE_FROM,
    scores=None,
    embedding=None,
    random_state=None,
) -> tuple[np.ndarray, list[str]]:
    """Select by margin, by cluster-margin for batches of ``badge_from`` or more (typical early).

    Parameters
    ----------
    proba : array-like of shape (n_candidates, n_classes)
        Class probabilities of the candidates.
    X : array-like of shape (n_samples, n_features)
        Features of the whole pool.
    batch_size : int
    labeled : array-like of int, default=None
        Labeled rows of ``X``.
    candidates : array-like of int, default=None
        Rows of ``X`` to choose from, aligned with ``proba``; default every row.
    n_classes : int, default=None
        Classes of the task (default: the columns of ``proba``).
    early_per_class : float, default=0.0
        Below this many labels per class (on average) the typical part picks.
    badge_from : int, default=50
        Batches of at least this many go to cluster-margin (BADGE when ``embedding``
        is given); smaller ones to margin.
    scores : array-like of shape (n_candidates,), optional
        What ranks the candidates instead of the margin (e.g. margin per labeling
        cost); a batch is then the top by these scores.
    embedding : array-like of shape (n_candidates, n_dims), optional
        A network's own gradient embeddings: large batches then go to BADGE on
        them instead of cluster-margin.
    random_state : int, Generator or None

    Returns
    -------
    indices : ndarray of shape (min(batch_size, n_candidates),)
        Absolute row indices, in pick order.
    parts : list of str
        The part of ``auto`` that chose each pick: ``typical``, ``margin``,
        ``cluster_margin`` or ``badge``.

    References
    ----------
    Hacohen, G., Dekel, A. and Weinshall, D. (2022). Active learning on a budget:
    opposite strategies suit high and low budgets. ICML.
    Ash, J. T. et al. (2020). Deep batch active learning by diverse, uncertain
    gradient lower bounds. ICLR.
    Citovsky, G. et al. (2021). Batch active learning at scale. NeurIPS.

    Examples
    --------
    >>> proba = [[0.5, 0.5], [0.9, 0.1], [0.6, 0.4]]
    >>> idx, parts = auto(proba, [[0.0], [1.0], [2.0]], batch_size=1, random_state=0)
    >>> idx.tolist(), parts
    ([0], ['margin'])
    """
    Xf = check_X(X)
    p = check_proba(proba)
    n = Xf.shape[0]
    cand = np.arange(n, dtype=np.intp) if candidates is None else candidates
    cand = check_indices(cand, n, name="candidates")
    if cand.size != p.shape[0]:
        raise InvalidInputError(
            f"proba has {p.shape[0]} rows but there are {cand.size} candidates; give one row "
            "of probabilities per candidate."
        )
    lab = (
        np.empty(0, dtype=np.intp) if labeled is None else check_indices(labeled, n, name="labeled")
    )
    early = _check_number(early_per_class, "early_per_class", integer=False)
    badge_from = int(_check_number(badge_from, "badge_from", integer=True))
    b = min(check_batch_size(batch_size), cand.size)
    rng = np.random.default_rng(random_state)
    c = int(n_classes or p.shape[1])
    s = margin(p) if scores is None else check_scores(scores, cand.size)
    if lab.size < early * c:
        pos = _typical_positions(Xf, lab, cand, b, rng)
        return cand[pos], ["typical"] * pos.size
    if b < badge_from or b == cand.size or scores is not None:
        pos = top_positions(s, b, rng)
        return cand[pos], ["margin"] * pos.size
    if embedding is not None:  # a network's own gradient embeddings: BADGE on them
        pos = badge(np.asarray(embedding), batch_size=b, random_state=rng)
        return cand[pos], ["badge"] * pos.size
    pos = cluster_margin(
        s, Xf, batch_size=b, candidates=cand, top_factor=TOP_FACTOR, random_state=rng
    )
    return cand[pos], ["cluster_margin"] * pos.size


def _typical_positions(Xf, lab, cand, b, rng) -> np.ndarray:
    """TypiClust: the most typical candidate of each of the largest clusters without a label.

    The pool (labeled and candidates) is clustered into ``|labeled| + b`` groups;
    groups are visited by the number of labels they hold (fewest first), then by
    size (largest first), and each gives its most typical candidate, round after
    round until the batch is full.
    """
    rows = np.concatenate([lab, cand])
    k = min(lab.size + b, rows.size)
    assign, _ = kmeans(Xf[rows], k, rng)
    n_groups = int(assign.max()) + 1
    labeled_in = np.bincount(assign[: lab.size], minlength=n_groups)
    sizes = np.bincount(assign, minlength=n_groups)
    typ = typicality(Xf[rows], k=20, candidates=np.arange(lab.size, rows.size))
    cand_group = assign[lab.size :]
    order = np.lexsort((-sizes, labeled_in))  # fewest labels, then largest
    members = []
    for g in order:
        inside = np.flatnonzero(cand_group == g)
        members.append(inside[np.argsort(-typ[inside], kind="stable")])
    return interleave(members, b)
