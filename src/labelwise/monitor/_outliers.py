"""Outliers: batch rows farther from the reference than almost any reference row is.

Each row's outlier score is its Euclidean distance (faiss) to its ``k``-th nearest
reference row; a reference row's own score leaves the row itself out. Rows beyond
the reference's 99th percentile are outliers, and their count is tested against
the 1 % expected (:func:`labelwise.monitor._exceedance.exceedance_test`). Samples
of a class the model never saw land here. At most ``max_ref`` reference rows
(default 5,000) are searched, and the test counts at most ``max_test`` batch rows
(default 20,000), both drawn at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise.monitor._exceedance import Exceedance, exceedance_test

__all__ = ["Outliers", "knn_outliers"]


@dataclass
class Outliers:
    """Outlier scores of reference and batch rows, and the exceedance test."""

    k: int
    ref_scores: np.ndarray
    batch_scores: np.ndarray
    test: Exceedance


def knn_outliers(
    X_ref,
    X_batch,
    *,
    k: int = 5,
    quantile: float = 0.99,
    max_ref: int = 5_000,
    max_test: int = 20_000,
    random_state=0,
) -> Outliers:
    """Distance of every batch row to its ``k``-th nearest reference row, tested.

    Parameters
    ----------
    X_ref : array-like of shape (n_ref, n_features)
    X_batch : array-like of shape (n_batch, n_features)
    k : int, default=5
    quantile : float, default=0.99
    max_ref : int, default=5000
        Reference rows searched (a random subsample beyond it).
    max_test : int, default=20000
        Batch rows the test counts (exact search); beyond it the other rows' scores
        come from faiss's approximate (inverted-file) index, for ranking only.
    random_state : int or None
    """
    from labelwise.strategies._neighbors import knn_search

    R = np.asarray(X_ref, dtype=np.float32)
    rng = np.random.default_rng(random_state)
    if R.shape[0] > max_ref:
        R = R[np.sort(rng.choice(R.shape[0], max_ref, replace=False))]
    k = max(1, min(int(k), R.shape[0] - 1))
    B = np.asarray(X_batch, dtype=np.float32)
    ref_d = knn_search(R, R, k, exclude_self=True)[0][:, k - 1]
    if B.shape[0] <= max_test:
        batch_d = knn_search(B, R, k)[0][:, k - 1]
        return Outliers(k, ref_d, batch_d, exceedance_test(ref_d, batch_d, quantile=quantile))
    # a large batch: the test on an exact search of max_test random rows; every row's
    # score (for the enqueue ranking only) from the approximate index
    sub = np.sort(rng.choice(B.shape[0], max_test, replace=False))
    batch_d = knn_search(B, R, k, exact=False)[0][:, k - 1]
    batch_d[sub] = knn_search(B[sub], R, k)[0][:, k - 1]
    test = exceedance_test(ref_d, batch_d[sub], quantile=quantile)
    test.mask = batch_d > test.threshold
    return Outliers(k, ref_d, batch_d, test)
