"""Labels-needed forecast: fit the learning curve, say how many more labels reach a target.

The curve is modelled by the inverse power law ``m(n) = a - b * n**(-c)``
(``a`` = the ceiling the model approaches, ``b, c > 0``), fit by least squares
(exactly in ``a, b`` for each ``c``).
Labels needed for a target ``t < a``: ``n* = (b / (a - t))**(1 / c)``. The
interval comes from a residual bootstrap: refit on fitted values plus resampled
residuals, and take percentiles of ``n*``; a bootstrap fit whose ceiling is
below the target counts as "never", which can make the upper end unbounded.

With ``errors`` (each point's standard error: a project's evaluation metric
comes with an interval) the bootstrap is parametric instead: every replicate
redraws each point around the fit with the larger of its own standard error
and the residual scatter, so a noisy evaluation set widens the forecast's
interval rather than hiding in it.

The law describes learning curves under i.i.d. (random) sampling well. Curves
of uncertainty sampling often rise faster than the law fit on their first
rounds, so for them the forecast errs on the side of too many labels.

References
----------
Figueroa, R. L. et al. (2012). Predicting sample size required for
classification performance. BMC Medical Informatics and Decision Making 12:8.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from labelwise.errors import InvalidInputError

__all__ = ["Forecast", "fit_power_law", "power_law", "forecast_labels", "project_forecast"]


def power_law(n, a, b, c):
    """``a - b * n**(-c)``."""
    return a - b * np.power(np.asarray(n, dtype=np.float64), -c)


def _fit_ab(z: np.ndarray, y: np.ndarray, hi: float) -> tuple[float, float, float]:
    """Least squares of ``y = a - b z`` for fixed ``z = n**-c`` with ``a <= hi``, ``b >= 0``."""
    zc = z - z.mean()
    denom = float(zc @ zc)
    b = -float(zc @ (y - y.mean())) / denom if denom > 0 else 0.0
    b = max(b, 0.0)
    a = float(y.mean() + b * z.mean())
    if a > hi:  # the ceiling binds: a = hi, refit b alone
        a = hi
        b = max(float(z @ (a - y)) / float(z @ z), 0.0)
    sse = float(np.sum((y - (a - b * z)) ** 2))
    return a, b, sse


def fit_power_law(labels, values, *, ceiling: float | None = 1.0) -> tuple[float, float, float]:
    """Least-squares fit of ``a - b * n**(-c)``; returns ``(a, b, c)``.

    For a fixed exponent ``c`` the model is linear in ``(a, b)``, so ``a, b`` are
    solved exactly and only ``c`` is searched (bounded, in log space): no
    starting guess, no local minima in ``a, b``. ``ceiling`` bounds ``a`` from
    above (1.0 for accuracy-like metrics; None for no bound).
    """
    x = np.asarray(labels, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    hi = np.inf if ceiling is None else float(ceiling)
    logx = np.log(x)

    def sse(log_c: float) -> float:
        return _fit_ab(np.exp(-np.exp(log_c) * logx), y, hi)[2]

    grid = np.linspace(np.log(1e-3), np.log(5.0), 60)
    best = grid[int(np.argmin([sse(g) for g in grid]))]
    step = grid[1] - grid[0]
    res = minimize_scalar(sse, bounds=(best - step, best + step), method="bounded")
    c = float(np.exp(res.x if res.fun <= sse(best) else best))
    a, b, _ = _fit_ab(np.exp(-c * logx), y, hi)
    return a, b, c


def _needed(a: float, b: float, c: float, target: float) -> float:
    if a <= target:
        return math.inf
    if b <= 0:
        return 0.0
    return float((b / (a - target)) ** (1.0 / c))


@dataclass
class Forecast:
    """How many labels reach ``target``, with a bootstrap interval."""

    target: float
    labels_now: int
    labels_needed: float  # total labels at which the fit reaches the target (inf = never)
    more_labels: float  # labels_needed - labels_now, at least 0
    low: float  # interval on more_labels
    high: float
    level: float
    reachable: bool
    ceiling: float  # the fitted asymptote a
    params: tuple[float, float, float]
    message: str

    def to_dict(self) -> dict:
        """JSON-friendly dict (inf as None)."""
        d = asdict(self)
        for k in ("labels_needed", "more_labels", "low", "high"):
            if not math.isfinite(d[k]):
                d[k] = None
        d["params"] = list(self.params)
        return d


def forecast_labels(
    labels,
    values,
    target: float,
    *,
    level: float = 0.9,
    n_boot: int = 200,
    ceiling: float | None = 1.0,
    metric: str = "metric",
    errors=None,
    random_state=0,
) -> Forecast:
    """Forecast the labels needed to reach ``target`` from the learning curve so far.

    Parameters
    ----------
    labels : array-like of int
        Labeled-set sizes at which the metric was measured (increasing, > 0).
    values : array-like of float
        The metric at those sizes.
    target : float
    level : float, default=0.9
        Coverage of the bootstrap interval.
    n_boot : int, default=200
    ceiling : float or None, default=1.0
        Upper bound of the metric.
    metric : str
        Name used in the message.
    errors : array-like of float, optional
        Standard error of each value (e.g. from its 95 % interval: width / 3.92).
        Propagated into the interval; the target also counts as met only once
        the last value's lower 95 % bound reaches it.
    random_state : int or None

    Examples
    --------
    >>> n = np.array([20, 40, 80, 160])
    >>> f = forecast_labels(n, power_law(n, 0.95, 2.0, 0.8), 0.93)
    >>> round(f.labels_needed)   # (2 / 0.02) ** (1 / 0.8) = 316.2
    316
    """
    x = np.asarray(labels, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InvalidInputError("labels and values must be 1-D and of the same length.")
    if x.size < 3:
        raise InvalidInputError("a forecast needs the metric at 3 or more label counts.")
    if (x <= 0).any() or (np.diff(x) <= 0).any() or not np.isfinite(y).all():
        raise InvalidInputError("labels must be positive and increasing, values finite.")
    se = None
    if errors is not None:
        se = np.asarray(errors, dtype=np.float64)
        if se.shape != y.shape or not np.isfinite(se).all() or (se < 0).any():
            raise InvalidInputError("errors must be finite, >= 0 and one per value.")
    a, b, c = fit_power_law(x, y, ceiling=ceiling)
    now = int(x[-1])
    met = y[-1] >= target if se is None else y[-1] - 1.959964 * se[-1] >= target
    if met:
        return Forecast(
            target,
            now,
            float(now),
            0.0,
            0.0,
            0.0,
            level,
            True,
            a,
            (a, b, c),
            f"{metric} {y[-1]:.4f} already meets the target {target:g}",
        )
    need = _needed(a, b, c, target)
    fitted = power_law(x, a, b, c)
    resid = y - fitted
    rng = np.random.default_rng(random_state)
    boots = np.empty(n_boot)
    spread = None
    if se is not None:
        spread = np.maximum(se, float(np.sqrt(np.mean(resid**2))))
    for i in range(n_boot):
        if spread is None:
            yb = fitted + rng.choice(resid, size=resid.size, replace=True)
        else:
            yb = fitted + rng.normal(0.0, spread)
        boots[i] = _needed(*fit_power_law(x, yb, ceiling=ceiling), target)
    more = np.maximum(boots - now, 0.0)
    tail = (1.0 - level) / 2.0
    ordered = np.sort(more)  # "never" (inf) sorts last
    low = float(ordered[int(math.floor(tail * (n_boot - 1)))])
    high = float(ordered[int(math.ceil((1.0 - tail) * (n_boot - 1)))])
    reachable = math.isfinite(need)
    more_now = max(need - now, 0.0) if reachable else math.inf
    pct = f"{level:.0%}"
    if reachable:
        hi_txt = "unbounded" if not math.isfinite(high) else f"{high:,.0f}"
        msg = (
            f"about {more_now:,.0f} more labels to reach {metric} {target:g} "
            f"({pct} interval {low:,.0f} to {hi_txt}); fitted ceiling {a:.4f}"
        )
    else:
        msg = (
            f"{metric} {target:g} looks unreachable with this model: the learning curve levels "
            f"off at about {a:.4f}. Lower the target, or change the model or features."
        )
    return Forecast(target, now, need, more_now, low, high, level, reachable, a, (a, b, c), msg)


def project_forecast(rounds: list[dict], target: float, **kw) -> Forecast:
    """Forecast from a project's finished rounds (``status()["rounds"]``) on its evaluation metric.

    Uses the rounds with an evaluation metric; each one's 95 % interval gives its
    standard error. Refuses (``InvalidInputError``) without an evaluation set: a
    curve of the selection-biased CV accuracy would forecast the picker, not the model.
    """
    from labelwise.loop._evalset import NO_EVAL_NOTE

    scored = [r for r in rounds if r.get("metric") is not None and r.get("metric_ci")]
    if not scored:
        raise InvalidInputError(
            f"{NO_EVAL_NOTE}; the forecast needs the metric on a random evaluation set: "
            "draw one with 'labelwise eval-set' and label it."
        )
    by_n: dict[int, dict] = {}
    for r in scored:  # one point per label count: the latest round with it
        by_n[int(r["n_labeled"])] = r
    pts = [by_n[n] for n in sorted(by_n) if n > 0]
    if len(pts) < 3:
        raise InvalidInputError(
            f"a forecast needs the evaluation metric at 3 or more label counts; {len(pts)} so far."
        )
    x = [r["n_labeled"] for r in pts]
    y = [r["metric"] for r in pts]
    se = [(r["metric_ci"][1] - r["metric_ci"][0]) / (2 * 1.959964) for r in pts]
    return forecast_labels(x, y, target, errors=se, metric="evaluation accuracy", **kw)
