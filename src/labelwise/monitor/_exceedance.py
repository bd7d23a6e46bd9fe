"""How many batch rows lie beyond a high quantile of the reference: the test behind spikes.

The uncertainty-spike and outlier tests both ask whether more of the batch than
expected exceeds the reference's ``q``-quantile (95th, 99th). With a reference
of ``n_ref`` rows of which ``m`` lie above the threshold, a new row from the
reference distribution exceeds it with a probability ``pi ~ Beta(m + 1, n_ref - m)``
(the threshold is itself estimated), so the count of ``n`` batch rows above it is
beta-binomial: its upper tail is the exact p-value. As ``n_ref`` grows it becomes
the binomial test of the share against ``1 - q`` (``scipy.stats.binomtest``);
with a small reference the binomial test would raise too many alarms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Exceedance", "exceedance_test"]


@dataclass
class Exceedance:
    """The share of a batch beyond a reference quantile, and its one-sided p-value."""

    quantile: float
    threshold: float
    n_exceed: int
    n: int
    expected: float  # share expected without drift, (m + 1) / (n_ref + 1)
    p_value: float
    mask: np.ndarray  # batch rows above the threshold

    @property
    def share(self) -> float:
        return self.n_exceed / self.n if self.n else 0.0


def exceedance_test(ref_scores, batch_scores, *, quantile: float = 0.95) -> Exceedance:
    """Test whether more of ``batch_scores`` than expected exceeds the reference ``quantile``.

    Parameters
    ----------
    ref_scores : array-like of shape (n_ref,)
    batch_scores : array-like of shape (n,)
    quantile : float, default=0.95

    Returns
    -------
    Exceedance

    Examples
    --------
    >>> t = exceedance_test(np.arange(100.0), [99.5] * 10 + [10.0] * 10)
    >>> t.n_exceed, round(t.expected, 4), t.p_value < 1e-5
    (10, 0.0495, True)
    """
    from scipy.stats import betabinom

    r = np.asarray(ref_scores, dtype=np.float64)
    b = np.asarray(batch_scores, dtype=np.float64)
    if r.size == 0:
        raise ValueError("the reference has no scores.")
    thr = float(np.quantile(r, quantile, method="higher"))
    m = int(np.sum(r > thr))
    mask = b > thr
    k = int(mask.sum())
    a, bb = m + 1, r.size - m
    p = float(betabinom.sf(k - 1, b.size, a, bb)) if b.size else 1.0
    return Exceedance(quantile, thr, k, int(b.size), a / (r.size + 1), min(p, 1.0), mask)
