"""Intervals of the evaluation metric, checked against statsmodels, scipy and scikit-learn."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score
from statsmodels.stats.proportion import proportion_confint

from labelwise.errors import InvalidInputError
from labelwise.loop._intervals import (
    bootstrap_interval,
    macro_f1,
    paired_gain_interval,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("k", "n"), [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (45, 50), (412, 500), (1, 2000)]
)
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels(k, n, level):
    expected = proportion_confint(k, n, alpha=1 - level, method="wilson")
    assert wilson_interval(k, n, level=level) == pytest.approx(expected, abs=1e-12)


def test_wilson_edges_and_bad_input():
    assert wilson_interval(0, 0) == (0.0, 1.0)  # nothing known
    for bad in [(-1, 5), (6, 5)]:
        with pytest.raises(InvalidInputError):
            wilson_interval(*bad)
    with pytest.raises(InvalidInputError, match="level"):
        wilson_interval(1, 2, level=1.0)


def test_macro_f1_matches_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        t = rng.integers(0, 4, 60)
        p = np.where(rng.random(60) < 0.7, t, rng.integers(0, 5, 60))  # code 4: no class
        assert macro_f1(t, p, 5) == pytest.approx(f1_score(t, p, average="macro"), abs=1e-12)
    rows_t, rows_p = rng.integers(0, 3, (7, 30)), rng.integers(0, 3, (7, 30))
    got = macro_f1(rows_t, rows_p, 3)
    want = [f1_score(a, b, average="macro") for a, b in zip(rows_t, rows_p, strict=True)]
    assert got == pytest.approx(want, abs=1e-12)


def test_bootstrap_f1_interval_agrees_with_scipy():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 3, 300)
    p = np.where(rng.random(300) < 0.8, t, rng.integers(0, 3, 300))
    ours = bootstrap_interval(lambda a, b: macro_f1(a, b, 3), t, p, n_boot=4000, random_state=0)
    ref = stats.bootstrap(
        (t, p),
        lambda a, b, axis=-1: macro_f1(a, b, 3),
        paired=True,
        vectorized=True,
        n_resamples=4000,
        method="percentile",
        random_state=1,
    ).confidence_interval
    # two independent Monte Carlo runs of the same percentile interval
    assert ours == pytest.approx((ref.low, ref.high), abs=0.012)
    assert ours[0] < macro_f1(t, p, 3) < ours[1]


def test_bootstrap_of_a_mean_covers_like_the_t_interval():
    x = np.random.default_rng(2).normal(5.0, 2.0, 400)
    lo, hi = bootstrap_interval(lambda a: a.mean(axis=1), x, n_boot=4000, random_state=3)
    t_lo, t_hi = stats.t.interval(0.95, df=x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert (lo, hi) == pytest.approx((t_lo, t_hi), abs=0.03)


def test_paired_gain_by_hand_and_against_wilson():
    # 10 items: after wins 3 (items 2, 3, 4), loses 1 (item 9); gain = (3 - 1) / 10
    before = [1, 1, 0, 0, 0, 1, 1, 1, 1, 1]
    after = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    gain, lo, hi = paired_gain_interval(before, after)
    w_lo, w_hi = proportion_confint(3, 4, alpha=0.05, method="wilson")
    assert gain == pytest.approx(0.2)
    assert (lo, hi) == pytest.approx(((2 * w_lo - 1) * 0.4, (2 * w_hi - 1) * 0.4))
    assert lo < 0 < hi  # 3 of 4 disagreements won: not enough to tell


def test_paired_gain_identical_models_and_a_clear_gain():
    same = np.random.default_rng(4).random(200) < 0.8
    assert paired_gain_interval(same, same) == (0.0, 0.0, 0.0)
    before = np.zeros(200, dtype=bool)
    after = np.zeros(200, dtype=bool)
    after[:30] = True  # 30 wins, no loss
    gain, lo, hi = paired_gain_interval(before, after)
    assert gain == pytest.approx(0.15) and lo > 0.1 and hi == pytest.approx(0.15)
    with pytest.raises(InvalidInputError):
        paired_gain_interval([1, 0], [1])
