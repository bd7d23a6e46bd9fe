"""Data drift in all features at once: a classifier two-sample test on the embeddings.

A classifier learns to tell batch rows from reference rows; if it does better
than chance on rows it was not fit on, the two differ somewhere. Cross-fitted in
two stratified folds: each row is scored by the model fit on the other fold, and
the held-out scores give the AUC (with a Hanley–McNeil 95 % interval) and a
one-sided p-value of the two folds' Mann–Whitney U statistics added up (van
Elteren's stratified test: the folds' models need not share a scale).

Why a classifier and not MMD with permutations: its cost is linear in the rows
(MMD needs the n x n kernel matrix for each of hundreds of permutations), its AUC
reads as an effect size, and it scores every batch row (how unlike the reference
it looks), which the enqueue step uses. The model is a logistic regression on the
first ``n_components`` principal components (of both sides pooled) and their squares, so it
sees shifts of the mean and of the spread. At most ``max_rows`` rows per side
(default 2,000, drawn at random) are used to fit; every batch row is scored.

References
----------
Lopez-Paz, D. and Oquab, M. (2017). Revisiting classifier two-sample tests. ICLR.
Hanley, J. A. and McNeil, B. J. (1982). The meaning and use of the area under a
receiver operating characteristic (ROC) curve. Radiology 143.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["JointTest", "classifier_two_sample_test", "auc_interval"]


@dataclass
class JointTest:
    """The classifier two-sample test's result."""

    auc: float
    auc_ci: tuple[float, float]
    p_value: float
    n_ref: int  # held-out rows per side
    n_batch: int
    batch_scores: np.ndarray  # every batch row: share of held-out reference rows it outscores
    ref_scores: np.ndarray  # held-out decision values of the reference rows, sorted


def auc_interval(auc: float, n_pos: int, n_neg: int, z: float = 1.959964) -> tuple[float, float]:
    """Hanley–McNeil normal 95 % interval of an AUC, clipped to [0, 1]."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / max(
        n_pos * n_neg, 1
    )
    se = float(np.sqrt(max(var, 0.0)))
    return max(0.0, auc - z * se), min(1.0, auc + z * se)


def _design(Z: np.ndarray) -> np.ndarray:
    return np.hstack([Z, Z * Z])


def classifier_two_sample_test(
    X_ref,
    X_batch,
    *,
    max_rows: int = 2000,
    n_components: int = 32,
    random_state=0,
) -> JointTest:
    """Test whether ``X_batch`` comes from the distribution of ``X_ref``.

    Parameters
    ----------
    X_ref : array-like of shape (n_ref, n_features)
    X_batch : array-like of shape (n_batch, n_features)
    max_rows : int, default=2000
        Rows per side used to fit and test (a random subsample beyond it).
    n_components : int, default=32
        Principal components the classifier sees (with their squares).
    random_state : int or None

    Returns
    -------
    JointTest
    """
    from scipy.stats import mannwhitneyu
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(random_state)
    R = np.asarray(X_ref, dtype=np.float64)
    B = np.asarray(X_batch, dtype=np.float64)
    ri = np.sort(rng.choice(R.shape[0], min(max_rows, R.shape[0]), replace=False))
    bi = np.sort(rng.choice(B.shape[0], min(max_rows, B.shape[0]), replace=False))
    k = max(1, min(n_components, R.shape[1], ri.size - 1))
    # fit on both sides alike (no labels): a projection fit on the reference alone
    # would spread the reference rows more than new rows and fake a difference
    both = np.vstack([R[ri], B[bi]])
    pca = PCA(n_components=k, random_state=0).fit(both)
    scaler = StandardScaler().fit(_design(pca.transform(both)))

    def design(M):
        return scaler.transform(_design(pca.transform(M)))

    D = np.vstack([design(R[ri]), design(B[bi])])
    y = np.r_[np.zeros(ri.size), np.ones(bi.size)]
    tr, te = train_test_split(
        np.arange(y.size), test_size=0.5, stratify=y, random_state=int(rng.integers(2**31))
    )
    clf = LogisticRegression(C=1.0, max_iter=300).fit(D[tr], y[tr])
    held = clf.decision_function(D[te])
    is_b = y[te] == 1
    u = mannwhitneyu(held[is_b], held[~is_b], alternative="greater")
    n1, n0 = int(is_b.sum()), int((~is_b).sum())
    auc = float(u.statistic) / (n1 * n0)
    ref_held = np.sort(held[~is_b])
    # every batch row, placed among the held-out reference rows' values
    scores = np.searchsorted(ref_held, clf.decision_function(design(B)), side="left") / n0
    return JointTest(
        auc,
        auc_interval(auc, n1, n0),
        float(u.pvalue),
        n0,
        n1,
        scores,
        ref_held,
    )
