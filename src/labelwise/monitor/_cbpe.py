"""Accuracy without labels: confidence-based performance estimation (CBPE).

If the probabilities are calibrated, a row is right with probability equal to its
top probability, so the expected accuracy of a batch is the mean of its rows'
top probabilities. The probabilities are calibrated first by temperature scaling
(:mod:`labelwise.models._calibration`) fit on labeled rows the model was not fit
on (the random evaluation set). The 95 % interval adds two variances: the batch's
own (its correct count is a sum of independent Bernoulli(p_i): variance
``sum p_i (1 - p_i) / n^2``) and the calibration's (the estimate over temperatures
refit on bootstrap resamples of the calibration rows).

The estimate holds under covariate shift (p(y | x) unchanged) and fails under
concept drift, which no label-free estimate can see.

References
----------
NannyML, "Confidence-based performance estimation" (2022).
Guo, C. et al. (2017). On calibration of modern neural networks. ICML.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["AccuracyEstimate", "estimate_accuracy"]


@dataclass
class AccuracyEstimate:
    """Expected accuracy on the batch with its 95 % interval."""

    accuracy: float
    ci: tuple[float, float]
    temperature: float
    n_calibration: int

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ci"] = list(self.ci)
        return d


def estimate_accuracy(
    proba_batch,
    proba_cal=None,
    y_cal=None,
    *,
    n_boot: int = 200,
    random_state=0,
) -> AccuracyEstimate:
    """Expected accuracy of the batch from calibrated top probabilities.

    Parameters
    ----------
    proba_batch : array-like of shape (n, n_classes)
    proba_cal : array-like of shape (n_cal, n_classes), optional
        Probabilities of labeled rows the model was not fit on.
    y_cal : array-like of shape (n_cal,), optional
        Their true class indices. Without calibration rows (fewer than 10), the
        temperature stays 1 and only the batch's own variance is counted.
    n_boot : int, default=200
    random_state : int or None

    Examples
    --------
    >>> e = estimate_accuracy([[0.9, 0.1]] * 100)
    >>> round(e.accuracy, 3), [round(c, 3) for c in e.ci]
    (0.9, [0.841, 0.959])
    """
    from labelwise.models._calibration import apply_temperature, fit_temperature

    P = np.asarray(proba_batch, dtype=np.float64)
    n = P.shape[0]
    if n == 0:
        raise ValueError("the batch is empty.")

    def top(T: float) -> np.ndarray:
        return apply_temperature(P, T).max(axis=1)

    T, boot_var, n_cal = 1.0, 0.0, 0
    if proba_cal is not None and y_cal is not None and len(y_cal) >= 10:
        C = np.asarray(proba_cal, dtype=np.float64)
        yc = np.asarray(y_cal, dtype=np.intp)
        n_cal = int(yc.size)
        T = fit_temperature(C, yc)
        rng = np.random.default_rng(random_state)
        means = []
        for _ in range(n_boot):
            i = rng.integers(0, n_cal, n_cal)
            means.append(top(fit_temperature(C[i], yc[i])).mean())
        boot_var = float(np.var(means, ddof=1))
    p = top(T)
    acc = float(p.mean())
    se = float(np.sqrt(np.sum(p * (1 - p)) / n**2 + boot_var))
    z = 1.959964
    return AccuracyEstimate(acc, (max(0.0, acc - z * se), min(1.0, acc + z * se)), T, n_cal)
