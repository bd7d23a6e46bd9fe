"""Production monitoring: drift tests, accuracy without labels, and picks for the labeling queue.

A pure core over arrays (each test in a module of its own, :func:`detect_drift`
runs them all and corrects them together) and, around it, the project glue
(:func:`monitor_project`) that ``labelwise monitor`` and the pipeline's ``monitor``
step call.
"""

from labelwise.monitor._cbpe import AccuracyEstimate, estimate_accuracy
from labelwise.monitor._disagreement import disagreement_growth
from labelwise.monitor._drift import TESTS, DriftResult, detect_drift
from labelwise.monitor._enqueue import Pick, pick_informative
from labelwise.monitor._exceedance import exceedance_test
from labelwise.monitor._joint import classifier_two_sample_test
from labelwise.monitor._multiple import bh_adjust
from labelwise.monitor._outliers import knn_outliers
from labelwise.monitor._prediction import prediction_drift
from labelwise.monitor._project import MonitorRun, batch_key, monitor_project, monitor_runs
from labelwise.monitor._univariate import chi2_test, feature_tests, ks_columns, ks_test, psi

__all__ = [
    "TESTS",
    "AccuracyEstimate",
    "DriftResult",
    "MonitorRun",
    "Pick",
    "batch_key",
    "bh_adjust",
    "chi2_test",
    "classifier_two_sample_test",
    "detect_drift",
    "disagreement_growth",
    "estimate_accuracy",
    "exceedance_test",
    "feature_tests",
    "knn_outliers",
    "ks_columns",
    "ks_test",
    "monitor_project",
    "monitor_runs",
    "pick_informative",
    "prediction_drift",
    "psi",
]
