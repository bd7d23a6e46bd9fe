"""Many tests at once: Benjamini–Hochberg adjusted p-values.

Under the global null (no drift anywhere) the smallest BH-adjusted p-value is at
most ``alpha`` with probability at most ``alpha`` (Simes' test; exact for
independent tests, valid for positively dependent ones), so "any adjusted p-value
below alpha" keeps the false-alarm rate of a verdict at ``alpha``.

References
----------
Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate: a
practical and powerful approach to multiple testing. JRSS B 57(1).
"""

from __future__ import annotations

import numpy as np

__all__ = ["bh_adjust"]


def bh_adjust(p_values) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values, in the order given.

    Parameters
    ----------
    p_values : array-like of shape (n_tests,)
        Values in [0, 1]; NaN is taken as 1 (a test that could not run).

    Returns
    -------
    adjusted : ndarray of shape (n_tests,)

    Examples
    --------
    >>> bh_adjust([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=np.float64).ravel()
    if p.size == 0:
        return p
    p = np.where(np.isnan(p), 1.0, np.clip(p, 0.0, 1.0))
    return np.asarray(false_discovery_control(p, method="bh"), dtype=np.float64)
