"""One monitoring verdict from arrays: every test, the correction, the alerts.

Test families (each gives one p-value):

- ``feature_drift``: per feature Kolmogorov–Smirnov or chi-square
  (:mod:`._univariate`), Benjamini–Hochberg across features; the family's
  p-value is the smallest adjusted one (Simes' test of "no feature moved");
- ``joint_drift``: the classifier two-sample test on the embeddings (:mod:`._joint`);
- ``prediction_drift``: chi-square on the predicted classes (:mod:`._prediction`);
- ``uncertainty_spike``: the share above the reference's 95th percentile of
  uncertainty (:mod:`._exceedance`);
- ``committee_disagreement``: only for a model that is its own committee
  (:mod:`._disagreement`);
- ``outliers``: the share beyond the reference's 99th percentile of the distance to
  the k-th nearest reference row (:mod:`._outliers`).

The verdict: the families' p-values are corrected together by Benjamini–Hochberg
and a test fires when its adjusted p-value (``p_value`` in the report; the raw one
is ``p_raw``) is at most ``alpha``. Without drift, the chance that any test fires
(a false alarm of the verdict) is then at most ``alpha``, and the chance that a
given test fires is at most ``alpha`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labelwise.monitor._cbpe import AccuracyEstimate, estimate_accuracy
from labelwise.monitor._disagreement import Disagreement, disagreement_growth
from labelwise.monitor._exceedance import Exceedance, exceedance_test
from labelwise.monitor._joint import JointTest, classifier_two_sample_test
from labelwise.monitor._multiple import bh_adjust
from labelwise.monitor._outliers import Outliers, knn_outliers
from labelwise.monitor._prediction import PredictionDrift, prediction_drift
from labelwise.monitor._univariate import FeatureTest, _as_float, feature_tests

__all__ = ["DriftResult", "detect_drift", "UNCERTAINTY_SCORES", "TESTS"]

#: Scorers the uncertainty-spike test may use (proba only, higher = more uncertain).
UNCERTAINTY_SCORES = ("entropy", "margin", "least_confidence", "ratio")
#: Every test family, in report order.
TESTS = (
    "feature_drift",
    "joint_drift",
    "prediction_drift",
    "uncertainty_spike",
    "committee_disagreement",
    "outliers",
)


@dataclass
class DriftResult:
    """Everything one monitoring run found (arrays kept for the report and the enqueue)."""

    alpha: float
    tests: list[dict]
    features: list[dict]
    alerts: list[str]
    estimate: AccuracyEstimate | None
    n_ref: int
    n_batch: int
    joint: JointTest
    outliers: Outliers
    feature_results: list[FeatureTest] = field(default_factory=list)
    prediction: PredictionDrift | None = None
    uncertainty: Exceedance | None = None
    uncertainty_name: str | None = None
    unc_ref: np.ndarray | None = None
    unc_batch: np.ndarray | None = None
    disagreement: Disagreement | None = None
    classes: list[str] | None = None
    pred_batch: np.ndarray | None = None
    signals: dict = field(default_factory=dict)
    reasons: dict = field(default_factory=dict)

    @property
    def drift(self) -> bool:
        return any(t["fired"] for t in self.tests)

    @property
    def fired(self) -> list[str]:
        return [t["name"] for t in self.tests if t["fired"]]


def _pct(ref: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share of reference values strictly below each value, in [0, 1]."""
    return np.searchsorted(np.sort(ref), values, side="left") / max(ref.size, 1)


def detect_drift(
    X_ref,
    X_batch,
    *,
    features_ref=None,
    features_batch=None,
    feature_names=None,
    categorical=None,
    proba_ref=None,
    proba_batch=None,
    probas_ref=None,
    probas_batch=None,
    proba_cal=None,
    y_cal=None,
    classes=None,
    uncertainty: str = "entropy",
    alpha: float = 0.05,
    max_rows: int = 2000,
    k: int = 5,
    random_state=0,
) -> DriftResult:
    """Run every test that the inputs allow and correct them together.

    Parameters
    ----------
    X_ref, X_batch : array-like of shape (n_ref, d) and (n_batch, d)
        Embeddings (the project's features): joint test, outliers, diversity.
    features_ref, features_batch : array-like, optional
        Columns for the per-feature tests; default the embeddings themselves.
    feature_names : sequence of str, optional
    categorical : sequence of int, optional
        Feature columns tested by chi-square (default: detected).
    proba_ref, proba_batch : array-like of shape (n, n_classes), optional
        The model's probabilities: prediction drift, uncertainty, estimated accuracy.
    probas_ref, probas_batch : array-like of shape (n_members, n, n_classes), optional
        A committee's probabilities: disagreement growth.
    proba_cal, y_cal : optional
        Probabilities and true class indices of labeled rows the model was not fit
        on, to calibrate the accuracy estimate.
    classes : sequence of str, optional
    uncertainty : {"entropy", "margin", "least_confidence", "ratio"}, default="entropy"
    alpha : float, default=0.05
        False-alarm rate of the verdict.
    max_rows : int, default=2000
        Rows per side of the classifier two-sample test.
    k : int, default=5
        Neighbour of the outlier distance.
    random_state : int or None
    """
    import labelwise.strategies as strategies

    R = np.asarray(X_ref, dtype=np.float64)
    B = np.asarray(X_batch, dtype=np.float64)
    if R.shape[0] < 10 or B.shape[0] < 1:
        raise ValueError(
            f"monitoring needs at least 10 reference rows and 1 batch row, got {R.shape[0]} "
            f"and {B.shape[0]}."
        )
    # the per-feature tests keep float32 columns as they are (exact, and faster to sort)
    FR = _as_float(X_ref if features_ref is None else features_ref)
    FB = _as_float(X_batch if features_batch is None else features_batch)
    raw: dict[str, tuple[float, float, str]] = {}  # name -> (statistic, p, detail)
    signals: dict[str, np.ndarray] = {}
    reasons: dict = {}

    feats = feature_tests(FR, FB, names=feature_names, categorical=categorical)
    adj = bh_adjust([f.p_value for f in feats])
    worst = int(np.argmin(adj))
    raw["feature_drift"] = (
        feats[worst].statistic,
        float(adj[worst]),
        f"{int(np.sum(adj <= alpha))} of {len(feats)} features moved (BH-adjusted p <= {alpha}); "
        f"most: {feats[worst].feature} ({feats[worst].test} {feats[worst].statistic:.3g})",
    )
    moved = [j for j in range(len(feats)) if adj[j] <= alpha] or [worst]
    ext = np.stack([np.abs(2 * _pct(FR[:, j], FB[:, j]) - 1) for j in moved])
    signals["feature_drift"] = ext.max(axis=0)
    which = ext.argmax(axis=0)

    def feature_reason(i: int) -> str:
        j = moved[int(which[i])]
        return (
            f"feature_drift: {feats[j].feature} = {FB[i, j]:.4g} lies beyond "
            f"{signals['feature_drift'][i]:.0%} of the reference"
        )

    reasons["feature_drift"] = feature_reason

    joint = classifier_two_sample_test(R, B, max_rows=max_rows, random_state=random_state)
    raw["joint_drift"] = (
        joint.auc,
        joint.p_value,
        f"a classifier tells batch from reference with AUC {joint.auc:.3f} "
        f"({joint.auc_ci[0]:.3f} to {joint.auc_ci[1]:.3f}) on {joint.n_ref} + {joint.n_batch} "
        "held-out rows",
    )
    signals["joint_drift"] = joint.batch_scores
    reasons["joint_drift"] = lambda i: (
        f"joint_drift: the drift classifier finds it less like the reference than "
        f"{joint.batch_scores[i]:.0%} of held-out reference samples"
    )

    res = DriftResult(alpha, [], [], [], None, R.shape[0], B.shape[0], joint, None, feats)
    if proba_ref is not None and proba_batch is not None:
        PR = np.asarray(proba_ref, dtype=np.float64)
        PB = np.asarray(proba_batch, dtype=np.float64)
        names = list(classes) if classes is not None else [str(c) for c in range(PR.shape[1])]
        pr, pb = PR.argmax(axis=1), PB.argmax(axis=1)
        pd_ = prediction_drift(pr, pb, PR.shape[1])
        grew = int(np.argmax(pd_.batch_share - pd_.ref_share))
        raw["prediction_drift"] = (
            pd_.statistic,
            pd_.p_value,
            f"predicted {names[grew]}: {pd_.ref_share[grew]:.0%} of the reference, "
            f"{pd_.batch_share[grew]:.0%} of the batch",
        )
        gain = np.clip(1 - pd_.ref_share / np.maximum(pd_.batch_share, 1e-12), 0, 1)
        signals["prediction_drift"] = gain[pb]
        reasons["prediction_drift"] = lambda i: (
            f"prediction_drift: predicted {names[pb[i]]}, whose share rose from "
            f"{pd_.ref_share[pb[i]]:.0%} to {pd_.batch_share[pb[i]]:.0%}"
        )
        if uncertainty not in UNCERTAINTY_SCORES:
            raise ValueError(
                f"uncertainty must be one of {UNCERTAINTY_SCORES}, got {uncertainty!r}."
            )
        score = getattr(strategies, uncertainty)
        ur, ub = np.asarray(score(PR), dtype=np.float64), np.asarray(score(PB), dtype=np.float64)
        ex = exceedance_test(ur, ub, quantile=0.95)
        raw["uncertainty_spike"] = (
            ex.share,
            ex.p_value,
            f"{ex.share:.1%} of the batch is above the reference's 95th percentile of "
            f"{uncertainty} ({ex.threshold:.3f}); {ex.expected:.1%} expected",
        )
        signals["uncertainty_spike"] = _pct(ur, ub)
        reasons["uncertainty_spike"] = lambda i: (
            f"uncertainty_spike: {uncertainty} {ub[i]:.3f} is above "
            f"{signals['uncertainty_spike'][i]:.0%} of the reference "
            f"(95th percentile {ex.threshold:.3f})"
        )
        res.prediction, res.uncertainty, res.uncertainty_name = pd_, ex, uncertainty
        res.unc_ref, res.unc_batch, res.classes, res.pred_batch = ur, ub, names, pb
        res.estimate = estimate_accuracy(PB, proba_cal, y_cal, random_state=random_state)
    if probas_ref is not None and probas_batch is not None:
        dg = disagreement_growth(probas_ref, probas_batch)
        raw["committee_disagreement"] = (
            dg.statistic,
            dg.p_value,
            f"mean disagreement (BALD) {dg.batch_mean:.4f} on the batch, "
            f"{dg.ref_mean:.4f} on the reference",
        )
        res.disagreement = dg

    out = knn_outliers(R, B, k=k, random_state=random_state)
    raw["outliers"] = (
        out.test.share,
        out.test.p_value,
        f"{out.test.share:.1%} of the batch is farther from the reference than its 99th "
        f"percentile ({out.test.threshold:.3f}, distance to the {out.k}th nearest "
        f"reference sample); {out.test.expected:.1%} expected",
    )
    signals["outliers"] = _pct(out.ref_scores, out.batch_scores)
    reasons["outliers"] = lambda i: (
        f"outliers: distance {out.batch_scores[i]:.3f} to the {out.k}th nearest reference "
        f"sample, above {signals['outliers'][i]:.0%} of the reference "
        f"(99th percentile {out.test.threshold:.3f})"
    )
    res.outliers = out

    names = [t for t in TESTS if t in raw]
    adjusted = bh_adjust([raw[t][1] for t in names])
    for t, p in zip(names, adjusted, strict=True):
        stat, p_raw, detail = raw[t]
        fired = bool(p <= alpha)
        res.tests.append(
            {
                "name": t,
                "statistic": float(stat),
                "p_value": float(p),
                "threshold": alpha,
                "fired": fired,
                "p_raw": float(p_raw),
                "detail": detail,
            }
        )
        if fired:
            res.alerts.append(f"{t}: {detail}")
    res.features = [
        {**f.to_dict(), "p_adjusted": float(a), "moved": bool(a <= alpha)}
        for f, a in zip(feats, adj, strict=True)
    ]
    res.signals, res.reasons = signals, reasons
    return res
