"""Oracles: who answers "what is the label of sample i?"."""

from __future__ import annotations

import numpy as np

__all__ = ["SimulatedOracle"]


class SimulatedOracle:
    """Reveals labels that are already known (simulation and replay).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        The true label of every pool row.

    Attributes
    ----------
    n_queries_ : int
        How many labels have been revealed.
    """

    def __init__(self, y):
        self.y = np.asarray(y)
        self.n_queries_ = 0

    def label(self, indices) -> np.ndarray:
        """Return the labels of the pool rows ``indices``."""
        idx = np.asarray(indices, dtype=np.intp)
        self.n_queries_ += idx.size
        return self.y[idx]
