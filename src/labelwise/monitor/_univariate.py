"""Data drift one feature at a time: Kolmogorov–Smirnov, chi-square, population stability index.

A numeric feature is compared with the two-sample Kolmogorov–Smirnov test, a
categorical one (integer codes with at most ``max_categories`` values in the
reference) with a chi-square test of homogeneity on the category counts. Each
feature also gets its population stability index (PSI), a descriptive size of
the shift (the rule of thumb: < 0.1 stable, 0.1 to 0.25 moderate, > 0.25 large);
PSI has no p-value and takes no part in the verdict.

References
----------
Massey, F. J. (1951). The Kolmogorov–Smirnov test for goodness of fit. JASA 46.
Yurdakul, B. (2018). Statistical properties of population stability index. PhD
thesis, Western Michigan University.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["FeatureTest", "ks_test", "chi2_test", "psi", "is_categorical", "feature_tests"]

_FLOOR = 1e-4  # bin share floor of the PSI: an empty bin would make it infinite


@dataclass
class FeatureTest:
    """One feature's test: which test, its statistic and raw p-value, and its PSI."""

    feature: str
    test: str  # "ks" or "chi2"
    statistic: float
    p_value: float
    psi: float

    def to_dict(self) -> dict:
        return asdict(self)


def ks_test(ref, batch) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov ``(D, p-value)`` (scipy's exact or asymptotic p)."""
    from scipy.stats import ks_2samp

    r = ks_2samp(np.asarray(ref, dtype=np.float64), np.asarray(batch, dtype=np.float64))
    return float(r.statistic), float(r.pvalue)


def _category_counts(ref, batch, *, min_share: float = 0.01):
    """Counts per category (2, n_categories); reference categories under ``min_share`` pooled.

    Pooling the rare categories keeps the chi-square's expected counts away from zero,
    where its p-value is too small; a category unseen in the reference is pooled too,
    so a batch full of a new code still moves the pooled column.
    """
    ref = np.asarray(ref)
    batch = np.asarray(batch)
    cats, ref_counts = np.unique(ref, return_counts=True)
    keep = cats[ref_counts / ref.size >= min_share]
    cols = [(ref == c, batch == c) for c in keep]
    rest_r = ~np.isin(ref, keep)
    rest_b = ~np.isin(batch, keep)
    if rest_r.any() or rest_b.any():
        cols.append((rest_r, rest_b))
    return np.array([[r.sum() for r, _ in cols], [b.sum() for _, b in cols]], dtype=np.int64)


def chi2_test(ref, batch) -> tuple[float, float]:
    """Chi-square test of homogeneity of two samples of category codes: ``(chi2, p-value)``.

    Returns ``(0.0, 1.0)`` when both samples hold one category only.
    """
    from scipy.stats import chi2_contingency

    table = _category_counts(ref, batch)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    r = chi2_contingency(table)
    return float(r.statistic), float(r.pvalue)


def psi(ref, batch, *, bins: int = 10, categorical: bool = False) -> float:
    """Population stability index ``sum (b - r) * ln(b / r)`` over reference-quantile bins.

    Parameters
    ----------
    ref, batch : array-like of shape (n,)
    bins : int, default=10
        Bins at the reference's quantiles (numeric features).
    categorical : bool, default=False
        One bin per reference category (rare ones pooled, see :func:`chi2_test`).

    Examples
    --------
    >>> round(psi([0, 0, 1, 1], [0, 1, 1, 1], categorical=True), 4)   # 0.25*ln(1.5/.5)*2/2
    0.2747
    """
    ref = np.asarray(ref, dtype=np.float64)
    batch = np.asarray(batch, dtype=np.float64)
    if categorical:
        counts = _category_counts(ref, batch).astype(np.float64)
    else:
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
        counts = np.stack(
            [
                np.bincount(np.searchsorted(edges, x, side="right"), minlength=edges.size + 1)
                for x in (ref, batch)
            ]
        ).astype(np.float64)
    r = np.maximum(counts[0] / max(ref.size, 1), _FLOOR)
    b = np.maximum(counts[1] / max(batch.size, 1), _FLOOR)
    return float(np.sum((b - r) * np.log(b / r)))


def is_categorical(ref, *, max_categories: int = 20) -> bool:
    """Integer codes with at most ``max_categories`` distinct values in the reference."""
    ref = np.asarray(ref, dtype=np.float64)
    return bool(np.all(ref == np.round(ref)) and np.unique(ref).size <= max_categories)


def feature_tests(
    X_ref,
    X_batch,
    *,
    names: Sequence[str] | None = None,
    categorical: Sequence[int] | None = None,
    max_categories: int = 20,
) -> list[FeatureTest]:
    """Test every column of ``X_batch`` against the same column of ``X_ref``.

    Parameters
    ----------
    X_ref : array-like of shape (n_ref, n_features)
    X_batch : array-like of shape (n_batch, n_features)
    names : sequence of str, optional
        Column names; default ``f0, f1, ...``.
    categorical : sequence of int, optional
        Columns to test with chi-square; default: columns :func:`is_categorical` finds.
    max_categories : int, default=20

    Returns
    -------
    tests : list of FeatureTest
        One per column, with the raw (uncorrected) p-value.
    """
    R = np.asarray(X_ref, dtype=np.float64)
    B = np.asarray(X_batch, dtype=np.float64)
    if R.ndim != 2 or B.ndim != 2 or R.shape[1] != B.shape[1]:
        raise ValueError(f"X_ref {R.shape} and X_batch {B.shape} need the same columns.")
    names = [f"f{j}" for j in range(R.shape[1])] if names is None else list(names)
    if categorical is None:
        cat = {
            j for j in range(R.shape[1]) if is_categorical(R[:, j], max_categories=max_categories)
        }
    else:
        cat = set(int(j) for j in categorical)
    out = []
    for j, name in enumerate(names):
        is_cat = j in cat
        stat, p = chi2_test(R[:, j], B[:, j]) if is_cat else ks_test(R[:, j], B[:, j])
        out.append(
            FeatureTest(
                name, "chi2" if is_cat else "ks", stat, p, psi(R[:, j], B[:, j], categorical=is_cat)
            )
        )
    return out
