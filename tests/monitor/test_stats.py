"""The monitor's statistics checked against scipy and hand-worked values."""

import numpy as np
import pytest
from scipy import stats

from labelwise.monitor import (
    bh_adjust,
    chi2_test,
    estimate_accuracy,
    exceedance_test,
    feature_tests,
    ks_test,
    psi,
)


def test_ks_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.3, 1.0, size=120)
    ref = stats.ks_2samp(a, b)
    assert ks_test(a, b) == pytest.approx((ref.statistic, ref.pvalue))


def test_chi2_matches_scipy_on_the_count_table():
    a = np.repeat([0, 1, 2], [50, 30, 20])
    b = np.repeat([0, 1, 2], [20, 30, 50])
    ref = stats.chi2_contingency([[50, 30, 20], [20, 30, 50]])
    assert chi2_test(a, b) == pytest.approx((ref.statistic, ref.pvalue))
    assert chi2_test([1, 1, 1], [1, 1]) == (0.0, 1.0)  # one category: nothing to test


def test_bh_matches_the_step_up_rule_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.20])
    # sorted 0.01, 0.03, 0.04, 0.20 -> p * m / rank = 0.04, 0.06, 0.0533, 0.20;
    # then the running minimum from the largest down
    assert bh_adjust(p) == pytest.approx([0.04, 0.0533333, 0.0533333, 0.20])
    assert bh_adjust(p) == pytest.approx(stats.false_discovery_control(p))


def test_psi_by_hand():
    # two categories: reference 50/50, batch 25/75
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert psi([0, 0, 1, 1], [0, 1, 1, 1], categorical=True) == pytest.approx(expected)
    rng = np.random.default_rng(1)
    x = rng.normal(size=5000)
    assert psi(x, x) == pytest.approx(0.0)


def test_integer_codes_get_chi2_and_reals_get_ks():
    rng = np.random.default_rng(2)
    R = np.column_stack([rng.integers(0, 4, 400), rng.normal(size=400)])
    B = np.column_stack([rng.integers(0, 4, 100), rng.normal(size=100)])
    tests = feature_tests(R, B, names=["code", "x"])
    assert [t.test for t in tests] == ["chi2", "ks"]
    assert tests[1].p_value == pytest.approx(stats.ks_2samp(R[:, 1], B[:, 1]).pvalue)


def test_exceedance_tends_to_the_binomial_test_with_a_large_reference():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=200_000)
    batch = np.r_[np.full(12, 10.0), np.zeros(88)]  # 12 of 100 beyond the 95th percentile
    t = exceedance_test(ref, batch, quantile=0.95)
    want = stats.binomtest(12, 100, t.expected, alternative="greater").pvalue
    assert t.n_exceed == 12
    assert t.p_value == pytest.approx(want, rel=0.05)


def test_exceedance_is_not_liberal_with_a_small_reference():
    # reference of 40 rows: the threshold itself is noisy; over many draws the
    # one-sided test at 5 % fires at most about 5 % of the time
    rng = np.random.default_rng(4)
    fired = sum(
        exceedance_test(rng.normal(size=40), rng.normal(size=200)).p_value <= 0.05
        for _ in range(400)
    )
    assert fired / 400 <= 0.065


def test_cbpe_is_the_mean_top_probability_with_the_bernoulli_interval():
    P = np.array([[0.9, 0.1]] * 50 + [[0.6, 0.4]] * 50)
    e = estimate_accuracy(P)
    p = np.r_[np.full(50, 0.9), np.full(50, 0.6)]
    se = np.sqrt(np.sum(p * (1 - p))) / 100
    assert e.accuracy == pytest.approx(0.75)
    assert e.ci == pytest.approx((0.75 - 1.959964 * se, 0.75 + 1.959964 * se))


def test_cbpe_calibrates_an_overconfident_model():
    # true accuracy 0.7, the model claims 0.95: temperature scaling on calibration rows fixes it
    rng = np.random.default_rng(5)
    n = 2000
    y = rng.integers(0, 2, n)
    right = rng.random(n) < 0.7
    pred = np.where(right, y, 1 - y)
    P = np.where(pred[:, None] == np.arange(2), 0.95, 0.05)
    e = estimate_accuracy(P[1000:], P[:1000], y[:1000])
    assert abs(e.accuracy - right[1000:].mean()) < 0.03
    assert e.ci[0] <= right[1000:].mean() <= e.ci[1]
    assert estimate_accuracy(P[1000:]).accuracy == pytest.approx(0.95)  # uncalibrated
