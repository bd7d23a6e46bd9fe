"""Prediction drift: whether the share of each predicted class moved.

A chi-square test of homogeneity on the predicted-class counts of the reference
and the batch (classes predicted by neither are left out). A change in the class
prior shows here first, even when no single feature moves much.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PredictionDrift", "prediction_drift"]


@dataclass
class PredictionDrift:
    """Predicted-class shares of reference and batch, with the chi-square test."""

    statistic: float
    p_value: float
    ref_share: np.ndarray  # (n_classes,)
    batch_share: np.ndarray


def prediction_drift(pred_ref, pred_batch, n_classes: int) -> PredictionDrift:
    """Chi-square test of the predicted-class counts (class indices ``0 .. n_classes-1``).

    Examples
    --------
    >>> d = prediction_drift([0] * 50 + [1] * 50, [0] * 90 + [1] * 10, 2)
    >>> d.batch_share.tolist(), d.p_value < 1e-6
    ([0.9, 0.1], True)
    """
    from scipy.stats import chi2_contingency

    r = np.bincount(np.asarray(pred_ref, dtype=np.intp), minlength=n_classes)
    b = np.bincount(np.asarray(pred_batch, dtype=np.intp), minlength=n_classes)
    table = np.stack([r, b])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        stat, p = 0.0, 1.0
    else:
        res = chi2_contingency(table)
        stat, p = float(res.statistic), float(res.pvalue)
    return PredictionDrift(stat, p, r / max(r.sum(), 1), b / max(b.sum(), 1))
