"""Committee disagreement growth: whether the members of a committee disagree more on the batch.

For a model that is its own committee (MC-dropout passes or a deep ensemble, see
:class:`labelwise.models.SampledCommittee`), each row's disagreement is its BALD
score (mutual information between the prediction and the member); the batch's
scores are compared with the reference's by a one-sided Mann–Whitney test.

References
----------
Houlsby, N., Huszár, F., Ghahramani, Z. and Lengyel, M. (2011). Bayesian active
learning for classification and preference learning. arXiv:1112.5745.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Disagreement", "disagreement_growth"]


@dataclass
class Disagreement:
    """Mean disagreement of reference and batch, and the one-sided test."""

    ref_mean: float
    batch_mean: float
    statistic: float  # Mann–Whitney U / (n_ref * n_batch): P(batch row > reference row)
    p_value: float
    batch_scores: np.ndarray


def disagreement_growth(probas_ref, probas_batch) -> Disagreement:
    """Compare committee disagreement, ``probas_*`` of shape (n_members, n, n_classes)."""
    from scipy.stats import mannwhitneyu

    from labelwise.strategies import bald

    r = np.asarray(bald(np.asarray(probas_ref)), dtype=np.float64)
    b = np.asarray(bald(np.asarray(probas_batch)), dtype=np.float64)
    u = mannwhitneyu(b, r, alternative="greater")
    return Disagreement(
        float(r.mean()), float(b.mean()), float(u.statistic) / (r.size * b.size), float(u.pvalue), b
    )
