"""The vectorised per-feature tests against scipy's ks_2samp and a PSI computed by hand."""

import warnings

import numpy as np
import pytest
from scipy import special, stats

from labelwise.monitor import feature_tests, ks_columns, psi
from labelwise.monitor._univariate import _prob_outside_square, _smirnov


def _scipy_ks(R, B):
    rs = [stats.ks_2samp(R[:, j], B[:, j]) for j in range(R.shape[1])]
    return np.array([r.statistic for r in rs]), np.array([r.pvalue for r in rs])


def _check(R, B):
    D, p = ks_columns(R, B)
    D0, p0 = _scipy_ks(R, B)
    np.testing.assert_allclose(D, D0, rtol=1e-9, atol=0)
    np.testing.assert_allclose(p, p0, rtol=1e-9, atol=1e-300)


def _columns(rng, n, shift):
    """Normal, scaled, integer-valued (ties within and across samples), rounded columns."""
    x = rng.normal(size=(n, 4))
    x[:, 0] += shift
    x[:, 1] *= 1 + shift
    x[:, 2] = rng.integers(0, 6 if shift else 5, size=n)
    x[:, 3] = np.round(x[:, 3] + shift, 1)
    return x


@pytest.mark.parametrize(
    "n_ref, n_batch",
    [
        (1, 1),
        (7, 7),  # equal sizes: scipy's exact square-path count
        (3000, 3000),
        (300, 120),  # exact, unequal sizes
        (5000, 500),
        (10_001, 300),  # n_ref > 10,000: asymptotic, kstwo with n = round(n1 n2 / (n1 + n2))
        (12_000, 15_000),  # asymptotic, n = 6,667: the tail is 2 * smirnov(n, D)
    ],
)
def test_ks_columns_equal_scipy_exact_and_asymptotic_with_ties(n_ref, n_batch):
    rng = np.random.default_rng(n_ref + n_batch)
    for shift in (0.0, 0.3):  # null columns (p near 1, kstwo's body) and drifted (its tail)
        _check(_columns(rng, n_ref, 0.0), _columns(rng, n_batch, shift))


def test_ks_columns_float32_columns_equal_scipy_on_the_same_float32_values():
    rng = np.random.default_rng(4)
    R = rng.normal(size=(400, 3)).astype(np.float32)
    B = (rng.normal(size=(250, 3)) + 0.2).astype(np.float32)
    _check(R, B)


def test_batch_sorted_in_blocks_of_columns_gives_the_same_tests(monkeypatch):
    import labelwise.monitor._univariate as uni

    rng = np.random.default_rng(9)
    R, B = rng.normal(size=(400, 5)), rng.normal(size=(250, 5)) + [0, 0.3, 0, 0.5, 0]
    whole = feature_tests(R, B)
    monkeypatch.setattr(uni, "_BLOCK", 500)  # 2 columns of 250 rows a block: 3 blocks
    blocks = feature_tests(R, B)
    assert [t.to_dict() for t in blocks] == [t.to_dict() for t in whole]
    _check(R, B)


def test_ks_columns_random_shapes_ties_and_layouts_equal_scipy():
    # the search prunes blocks of 16 reference points by a bound: random sizes, heavy
    # ties, one-sided shifts and Fortran-ordered or strided input must not fool it
    rng = np.random.default_rng(8)
    for _ in range(12):
        n1, n2 = rng.integers(20, 900, size=2)
        levels = int(rng.integers(2, 40))
        R = rng.integers(0, levels, size=(n1, 3)) / 3.0
        B = rng.integers(0, levels, size=(n2, 3)) / 3.0 + rng.integers(0, 3) / 3.0
        R[:, 2], B[:, 2] = rng.normal(size=n1), rng.normal(size=n2) * rng.uniform(0.5, 2)
        _check(np.asfortranarray(R), B[:, ::-1][:, ::-1])


def test_ks_columns_nan_column_is_nan_like_scipy_and_the_others_unaffected():
    rng = np.random.default_rng(5)
    R, B = rng.normal(size=(200, 3)), rng.normal(size=(100, 3))
    B[7, 1] = np.nan
    D, p = ks_columns(R, B)
    assert np.isnan(stats.ks_2samp(R[:, 1], B[:, 1]).pvalue)
    assert np.isnan(D[1]) and np.isnan(p[1])
    np.testing.assert_allclose(p[[0, 2]], _scipy_ks(R[:, [0, 2]], B[:, [0, 2]])[1], rtol=1e-9)


def test_ks_by_hand():
    # F_ref - F_batch is 3/4 - 0 just right of 2: D = 0.75; exact p = 6 of C(6, 2) = 15
    # interleavings reach D >= 0.75 ({ref, ref, ref, ref} first or last, up to symmetry)
    D, p = ks_columns([[0.0], [1.0], [2.0], [3.0]], [[2.5], [3.5]])
    assert D[0] == 0.75 and p[0] == pytest.approx(6 / 15)


@pytest.mark.parametrize("n, x2", [(141, 2.2), (6667, 3.0), (16_667, 40.0), (50_000, 300.0)])
def test_smirnov_tail_equals_scipy_special(n, x2):
    x = np.sqrt(x2 / n)
    assert _smirnov(n, x) == pytest.approx(special.smirnov(n, x), rel=1e-9)


@pytest.mark.parametrize("n", [1, 9, 400, 10_000])
def test_square_exact_p_equals_scipys(n):
    # two samples of n, one shifted by h places: D = h / n, scipy's exact p for it
    for h in sorted({max(1, n // 7), max(1, n // 2), n}):  # (at h = 1 scipy goes asymptotic)
        x = np.arange(n, dtype=np.float64)
        r = stats.ks_2samp(x, x + h - 0.5, method="exact")
        assert r.statistic == pytest.approx(h / n)
        assert _prob_outside_square(n, h) == pytest.approx(r.pvalue, rel=1e-12)
    # at D = 1/n the sum leaves [0, 1]: scipy falls back to kstwo, so must we
    x = np.arange(n, dtype=np.float64)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy says it switched
        _check(x, x + 0.5)


def _psi_by_hand(r, b, bins=10):
    edges = np.unique(np.quantile(r, np.arange(1, bins) / bins))
    ref = np.histogram(r, np.r_[-np.inf, edges, np.inf])[0] / r.size
    bat = np.histogram(b, np.r_[-np.inf, edges, np.inf])[0] / b.size
    ref, bat = np.maximum(ref, 1e-4), np.maximum(bat, 1e-4)
    return np.sum((bat - ref) * np.log(bat / ref))


def test_feature_tests_psi_equals_the_per_column_psi_and_a_hand_computation():
    rng = np.random.default_rng(6)
    R = rng.normal(size=(3000, 3))
    B = rng.normal(size=(700, 3)) * 1.3 + 0.2
    R[:, 2] = np.round(R[:, 2] * 2) / 2  # many ties: repeated quantile edges
    B[:, 2] = np.round(B[:, 2] * 2) / 2
    got = [t.psi for t in feature_tests(R, B, categorical=[])]
    for j in range(3):
        assert got[j] == pytest.approx(psi(R[:, j], B[:, j]), rel=1e-12)
        # np.histogram's bins are [e_k, e_k+1) like the PSI's (the last one closed at +inf)
        assert got[j] == pytest.approx(_psi_by_hand(R[:, j], B[:, j]), rel=1e-12)


def test_feature_tests_do_not_call_scipy_per_column(monkeypatch):
    # one sort per sample for all columns: scipy's ks_2samp is not run column by column
    def no(*a, **k):
        raise AssertionError("ks_2samp called")

    monkeypatch.setattr(stats, "ks_2samp", no)
    rng = np.random.default_rng(7)
    R, B = rng.normal(size=(500, 4)), rng.normal(size=(300, 4)) + 0.5
    tests = feature_tests(R, B)
    assert [t.test for t in tests] == ["ks"] * 4
    assert max(t.p_value for t in tests) < 1e-6
