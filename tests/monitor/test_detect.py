"""Each test fires on the shift it is meant for; i.i.d. batches raise <= 5 % false alarms."""

import numpy as np
import pytest
from _data import World, draw

from labelwise.monitor import detect_drift


def fired(res):
    return set(res.fired)


@pytest.fixture(scope="module")
def world():
    return World(seed=0)


def test_scaled_and_shifted_features_fire_feature_drift(world):
    X, _ = draw(world.rng, 200)
    X[:, 2] = X[:, 2] * 2.0  # scale one feature the model ignores
    X[:, 3] += 0.8  # shift another
    res = detect_drift(world.X_ref, X, **world.kwargs(X))
    assert {"feature_drift", "joint_drift"} <= fired(res)
    moved = {f["feature"] for f in res.features if f["moved"]}
    assert moved == {"f2", "f3"}


def test_a_new_class_prior_fires_prediction_drift(world):
    X, _ = draw(world.rng, 300, prior=(0.8, 0.1, 0.1))
    res = detect_drift(world.X_ref, X, **world.kwargs(X))
    assert "prediction_drift" in fired(res)
    t = next(t for t in res.tests if t["name"] == "prediction_drift")
    assert t["p_value"] <= t["threshold"] and t["fired"]


def test_rows_between_the_classes_fire_uncertainty_spike(world):
    X, _ = draw(world.rng, 200)
    # a quarter of the batch sits where the classes meet: the model is unsure there
    X[:50, :2] = np.array([1.5, 1.5]) + 0.3 * world.rng.normal(size=(50, 2))
    res = detect_drift(world.X_ref, X, **world.kwargs(X))
    assert "uncertainty_spike" in fired(res)


def test_an_unseen_class_fires_outliers(world):
    X, _ = draw(world.rng, 200)
    X[:20] = np.array([0.0, 0.0, 9.0, 9.0]) + world.rng.normal(size=(20, 4))  # a class never seen
    res = detect_drift(world.X_ref, X, **world.kwargs(X))
    assert "outliers" in fired(res)
    out = next(t for t in res.tests if t["name"] == "outliers")
    assert out["statistic"] >= 0.09  # 20 of 200 rows beyond the 99th percentile


def test_estimated_accuracy_covers_the_true_accuracy_on_an_iid_batch(world):
    X, y = draw(world.rng, 500)
    res = detect_drift(world.X_ref, X, **world.kwargs(X))
    truth = float(np.mean(world.model.predict(X) == y))
    lo, hi = res.estimate.ci
    assert lo <= truth <= hi


@pytest.mark.slow
def test_false_alarms_over_100_iid_batches_stay_at_5_percent():
    w = World(seed=1, n_ref=300)
    kw_ref = {"proba_ref": w.model.predict_proba(w.X_ref)}  # no calibration: faster
    any_fired, per_test = 0, {}
    for i in range(100):
        X, _ = draw(w.rng, 60)
        res = detect_drift(
            w.X_ref, X, proba_batch=w.model.predict_proba(X), random_state=i, **kw_ref
        )
        any_fired += res.drift
        for t in res.tests:
            per_test[t["name"]] = per_test.get(t["name"], 0) + t["fired"]
    assert set(per_test) == {
        "feature_drift",
        "joint_drift",
        "prediction_drift",
        "uncertainty_spike",
        "outliers",
    }
    assert any_fired <= 5, (any_fired, per_test)  # the verdict: <= 5 % false alarms
    assert max(per_test.values()) <= 5, per_test
