"""--enqueue picks are enriched in shifted samples and spread over clusters."""

import numpy as np
from _data import World, draw

from labelwise.monitor import detect_drift, pick_informative


def test_picks_are_enriched_in_the_shifted_rows_and_name_their_test():
    w = World(seed=2)
    X, _ = draw(w.rng, 300)
    shifted = np.zeros(300, dtype=bool)
    shifted[:30] = True  # 10 % of the batch: a new cluster far from the reference
    X[:30] = np.array([0.0, 0.0, 7.0, -7.0]) + w.rng.normal(size=(30, 4))
    res = detect_drift(w.X_ref, X, **w.kwargs(X))
    picks = pick_informative(X, res.signals, 10, reasons=res.reasons, fired=res.fired)
    idx = np.array([p.index for p in picks])
    assert len(set(idx.tolist())) == 10
    share = shifted[idx].mean()
    assert share >= 0.5  # vs 10 % of the batch: enriched at least 5x
    for p in picks:
        assert p.test in res.fired and p.reason.startswith(p.test + ":")


def test_picks_come_from_several_clusters_not_one():
    # two equally informative far clusters: the diversity step takes from both
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(50, 2)) + [10, 0], rng.normal(size=(50, 2)) + [-10, 0]])
    signal = np.r_[
        np.linspace(0.99, 0.9, 50), np.linspace(0.89, 0.8, 50)
    ]  # cluster 1 scores higher
    picks = pick_informative(X, {"outliers": signal}, 12, reasons={"outliers": lambda i: "far"})
    sides = [int(X[p.index, 0] > 0) for p in picks]
    assert len(picks) == 12 and 0 in sides and 1 in sides  # a plain top-12: cluster 1 only
