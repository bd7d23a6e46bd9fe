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
    unlabeled_accuracy_interval,
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


def test_unlabeled_accuracy_worked_example():
    # 1,000 rows: 100 evaluation (80 right), 100 selected (60 right out of fold), 800 left.
    # Population total 1000 * 0.8 = 800 right as unseen rows; the evaluation rows hold 80,
    # the selected 60, so the pool holds 660 of 800 = 0.825.
    est, lo, hi = unlabeled_accuracy_interval(80, 100, 60, 100, 1000)
    assert est == pytest.approx(660 / 800)
    a_lo, a_hi = proportion_confint(80, 100, method="wilson")
    c_lo, c_hi = proportion_confint(60, 100, method="wilson")
    # MOVER (Zou & Donner 2008) for 9/8 a - 1/8 c, written out by hand
    assert lo == pytest.approx(est - np.hypot(9 / 8 * (0.8 - a_lo), 1 / 8 * (c_hi - 0.6)))
    assert hi == pytest.approx(est + np.hypot(9 / 8 * (a_hi - 0.8), 1 / 8 * (0.6 - c_lo)))
    # no selected rows: the evaluation accuracy and its Wilson interval, widened by N-n / u = 1
    assert unlabeled_accuracy_interval(80, 100, 0, 0, 1000) == pytest.approx(
        (0.8, *proportion_confint(80, 100, method="wilson"))
    )
    for bad in [(0, 0, 0, 0, 10), (5, 5, 5, 5, 10), (6, 5, 0, 0, 100), (1, 5, 9, 5, 100)]:
        with pytest.raises(InvalidInputError):
            unlabeled_accuracy_interval(*bad)


def test_unlabeled_accuracy_covers_the_pool_after_hard_rows_are_taken():
    """Simulation: selection takes the hardest rows, so the pool beats the evaluation set.

    Each of 5,000 rows has a chance of being predicted right as an unseen row. The 600
    hardest are selected (their out-of-fold hits drawn from those chances), 400 random
    rows are the evaluation set; the truth is the hits drawn on the rows left. The
    evaluation interval alone misses the pool's accuracy; the estimate covers it.
    """
    rng = np.random.default_rng(7)
    n, n_eval, n_sel = 5000, 400, 600
    p_right = np.clip(rng.beta(8, 1.2, n), 0, 1)
    cover = cover_eval = 0
    reps = 300
    for _ in range(reps):
        perm = rng.permutation(n)
        ev, rest = perm[:n_eval], perm[n_eval:]
        sel = rest[np.argsort(p_right[rest])[:n_sel]]
        pool = np.setdiff1d(rest, sel)
        hit = rng.random(n) < p_right
        truth = hit[pool].mean()
        est, lo, hi = unlabeled_accuracy_interval(
            int(hit[ev].sum()), n_eval, int(hit[sel].sum()), n_sel, n
        )
        cover += lo <= truth <= hi
        e_lo, e_hi = wilson_interval(int(hit[ev].sum()), n_eval)
        cover_eval += e_lo <= truth <= e_hi
    assert cover / reps >= 0.92
    assert cover_eval / reps < 0.6
