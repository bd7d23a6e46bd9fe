"""Multi-label uncertainty: per-label binary uncertainty, aggregated over labels."""

from __future__ import annotations

import numpy as np

from labelwise._validation import check_multilabel_proba
from labelwise.errors import InvalidInputError

__all__ = ["multilabel_uncertainty"]


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy of Bernoulli(p) in bits, in [0, 1]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(
            np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
            + np.where(p < 1, (1 - p) * np.log2(np.where(p < 1, 1 - p, 1.0)), 0.0)
        )
    return np.clip(h, 0.0, 1.0)


def multilabel_uncertainty(proba, *, aggregate: str = "mean", measure: str = "entropy"):
    """Mean or max over labels of each label's binary uncertainty.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_labels)
        P(label present) for every label (rows need not sum to 1).
    aggregate : {"mean", "max"}, default="mean"
    measure : {"entropy", "margin"}, default="entropy"
        Binary entropy in bits, or ``1 - |2p - 1|`` (1 at p = 0.5, 0 at p in {0, 1}).

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        In ``[0, 1]``.

    References
    ----------
    Brinker, K. (2006). On active learning in multi-label classification. In
    From Data and Information Analysis to Knowledge Engineering, Springer.
    Yang, B. et al. (2009). Effective multi-label active learning for text
    classification. KDD.

    Examples
    --------
    >>> multilabel_uncertainty([[0.5, 1.0], [0.9, 0.1]], aggregate="max", measure="margin")
    array([1. , 0.2])
    """
    p = check_multilabel_proba(proba)
    if measure == "entropy":
        u = _binary_entropy(p)
    elif measure == "margin":
        u = 1.0 - np.abs(2.0 * p - 1.0)
    else:
        raise InvalidInputError(f"measure must be 'entropy' or 'margin', got {measure!r}.")
    if aggregate == "mean":
        return u.mean(axis=1)
    if aggregate == "max":
        return u.max(axis=1)
    raise InvalidInputError(f"aggregate must be 'mean' or 'max', got {aggregate!r}.")
