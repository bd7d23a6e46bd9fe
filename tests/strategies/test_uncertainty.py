"""Single-model uncertainty scorers: hand-worked values and the properties of PRODUCT.md §2.

Every expected number below was worked out by hand (or with a pocket calculator)
from the formula in PRODUCT.md, never by calling the scorer under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelwise.errors import InvalidInputError
from labelwise.strategies import entropy, least_confidence, margin, random, ratio, variance

SCORERS = {
    "least_confidence": least_confidence,
    "margin": margin,
    "ratio": ratio,
    "entropy": entropy,
    "variance": variance,
}
scorer_names = pytest.mark.parametrize("name", list(SCORERS))


# --------------------------------------------------------------------------- hand-worked values


def test_least_confidence_hand_worked():
    # p = [0.6, 0.3, 0.1]: 1 - 0.6 = 0.4
    # p = [0.2, 0.5, 0.3]: 1 - 0.5 = 0.5
    # p = [1/3, 1/3, 1/3]: 1 - 1/3 = 0.666...
    got = least_confidence([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(got, [0.4, 0.5, 2 / 3], rtol=0, atol=1e-12)


def test_least_confidence_normalized_hand_worked():
    # normalised by C/(C-1) = 3/2: 0.4 * 1.5 = 0.6; 0.5 * 1.5 = 0.75; uniform (2/3) * 1.5 = 1
    got = least_confidence(
        [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [1 / 3, 1 / 3, 1 / 3]], normalize=True
    )
    np.testing.assert_allclose(got, [0.6, 0.75, 1.0], rtol=0, atol=1e-12)


def test_margin_hand_worked():
    # p = [0.6, 0.3, 0.1]: 1 - (0.6 - 0.3) = 0.7
    # p = [0.1, 0.45, 0.45]: tie on top, 1 - 0 = 1
    # p = [0.05, 0.15, 0.8]: 1 - (0.8 - 0.15) = 0.35
    got = margin([[0.6, 0.3, 0.1], [0.1, 0.45, 0.45], [0.05, 0.15, 0.8]])
    np.testing.assert_allclose(got, [0.7, 1.0, 0.35], rtol=0, atol=1e-12)


def test_ratio_hand_worked():
    # p = [0.6, 0.3, 0.1]: 0.3 / 0.6 = 0.5
    # p = [0.1, 0.1, 0.8]: 0.1 / 0.8 = 0.125
    # p = [0.25, 0.5, 0.25]: 0.25 / 0.5 = 0.5 ; p = [0.4, 0.4, 0.2]: 1
    got = ratio([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.25, 0.5, 0.25], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(got, [0.5, 0.125, 0.5, 1.0], rtol=0, atol=1e-12)


def test_entropy_hand_worked():
    # p = [0.6, 0.3, 0.1]
    #   0.6 ln 0.6 = 0.6 * -0.5108256238 = -0.3064953743
    #   0.3 ln 0.3 = 0.3 * -1.2039728043 = -0.3611918413
    #   0.1 ln 0.1 = 0.1 * -2.3025850930 = -0.2302585093
    #   entropy = 0.8979457249
    # p = [0.5, 0.5, 0.0]: ln 2 = 0.6931471806 (0 ln 0 = 0)
    # p = [0, 0, 1]: 0
    got = entropy([[0.6, 0.3, 0.1], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(got, [0.8979457249, 0.6931471806, 0.0], rtol=0, atol=1e-9)


def test_entropy_normalized_hand_worked():
    # divided by ln 3 = 1.0986122887:
    #   0.8979457249 / 1.0986122887 = 0.8173454221
    #   0.6931471806 / 1.0986122887 = 0.6309297536
    #   uniform: ln 3 / ln 3 = 1
    got = entropy([[0.6, 0.3, 0.1], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]], normalize=True)
    np.testing.assert_allclose(got, [0.8173454221, 0.6309297536, 1.0], rtol=0, atol=1e-9)


def test_variance_hand_worked():
    # p = [0.6, 0.3, 0.1], mean 1/3:
    #   deviations 0.2667, -0.0333, -0.2333 -> squares 0.071111, 0.001111, 0.054444
    #   var = 0.126667 / 3 = 0.042222 (= 19/450); var_onehot = (3-1)/9 = 2/9
    #   score = 1 - (19/450) / (2/9) = 1 - 0.19 = 0.81
    # p = [0.5, 0.5, 0.0]:
    #   deviations 1/6, 1/6, -1/3 -> squares 1/36 + 1/36 + 4/36 = 1/6; var = 1/18
    #   score = 1 - (1/18) / (2/9) = 1 - 0.25 = 0.75
    # p = [0.2, 0.2, 0.6]: deviations -2/15, -2/15, 4/15 -> 24/225 / 3 = 8/225
    #   score = 1 - (8/225) * 9/2 = 1 - 0.16 = 0.84
    got = variance([[0.6, 0.3, 0.1], [0.5, 0.5, 0.0], [0.2, 0.2, 0.6]])
    np.testing.assert_allclose(got, [0.81, 0.75, 0.84], rtol=0, atol=1e-12)


def test_two_class_values():
    # C = 2, p = [0.8, 0.2]: lc 0.2, margin 1 - 0.6 = 0.4, ratio 0.25,
    # variance: var = 0.09, var_onehot = 1/4 -> 1 - 0.36 = 0.64
    # entropy = -(0.8 ln 0.8 + 0.2 ln 0.2) = 0.1785148410 + 0.3218875825 = 0.5004024235
    p = [[0.8, 0.2]]
    assert least_confidence(p)[0] == pytest.approx(0.2, abs=1e-12)
    assert margin(p)[0] == pytest.approx(0.4, abs=1e-12)
    assert ratio(p)[0] == pytest.approx(0.25, abs=1e-12)
    assert variance(p)[0] == pytest.approx(0.64, abs=1e-12)
    assert entropy(p)[0] == pytest.approx(0.5004024235, abs=1e-9)


# --------------------------------------------------------------------------- properties


@st.composite
def proba_rows(draw, min_classes=2, max_classes=10, max_rows=8):
    """Dirichlet-like rows: non-negative weights (exact zeros allowed), normalised."""
    c = draw(st.integers(min_classes, max_classes))
    n = draw(st.integers(1, max_rows))
    rows = []
    for _ in range(n):
        w = draw(
            st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 1.0)), min_size=c, max_size=c).filter(
                lambda v: sum(v) > 1e-3
            )
        )
        total = math.fsum(w)
        rows.append([x / total for x in w])
    return np.array(rows)


@scorer_names
@settings(max_examples=40, deadline=None)
@given(p=proba_rows())
def test_maximal_at_uniform_minimal_at_one_hot(name, p):
    fn = SCORERS[name]
    c = p.shape[1]
    uniform = fn(np.full((1, c), 1.0 / c))[0]
    one_hot = fn(np.eye(c)[:1])[0]
    s = fn(p)
    # higher = label first: the uniform distribution beats every other row, one-hot loses to all
    assert uniform > one_hot
    assert np.all(s <= uniform + 1e-9)
    assert np.all(s >= one_hot - 1e-9)
    assert one_hot == pytest.approx(0.0, abs=1e-12)


@scorer_names
@settings(max_examples=40, deadline=None)
@given(p=proba_rows(), data=st.data())
def test_column_order_invariance(name, p, data):
    perm = data.draw(st.permutations(range(p.shape[1])))
    fn = SCORERS[name]
    np.testing.assert_allclose(fn(p[:, perm]), fn(p), rtol=1e-12, atol=1e-12)


@scorer_names
@settings(max_examples=40, deadline=None)
@given(p=proba_rows())
def test_shape_finite_and_no_mutation(name, p):
    before = p.copy()
    s = SCORERS[name](p)
    assert s.shape == (p.shape[0],)
    assert np.isfinite(s).all()
    np.testing.assert_array_equal(p, before)


@pytest.mark.parametrize(
    ("name", "c", "expected"),
    [
        # the documented value at the uniform distribution for C classes
        ("least_confidence", 4, 0.75),  # 1 - 1/4
        ("margin", 4, 1.0),
        ("ratio", 4, 1.0),
        ("entropy", 4, 1.3862943611),  # ln 4
        ("variance", 4, 1.0),
    ],
)
def test_uniform_value(name, c, expected):
    assert SCORERS[name](np.full((1, c), 1.0 / c))[0] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("c", [2, 3, 7])
def test_normalized_uniform_scores_one(c):
    u = np.full((1, c), 1.0 / c)
    assert least_confidence(u, normalize=True)[0] == pytest.approx(1.0, abs=1e-12)
    assert entropy(u, normalize=True)[0] == pytest.approx(1.0, abs=1e-12)


@scorer_names
def test_finite_with_zeros(name):
    p = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    s = SCORERS[name](p)
    assert np.isfinite(s).all()
    # one-hot rows score 0, the [0, .5, .5] row scores higher than any one-hot row
    assert s[0] == pytest.approx(0.0, abs=1e-12)
    assert s[1] > s[0]


# --------------------------------------------------------------------------- invalid input

BAD = {
    "1-D": [0.5, 0.5],
    "3-D": [[[0.5, 0.5]]],
    "row sums to 0.9": [[0.5, 0.4]],
    "row sums to 1.2": [[0.6, 0.3, 0.3]],
    "NaN": [[np.nan, 0.5]],
    "inf": [[np.inf, 0.0]],
    "negative": [[1.2, -0.2]],
    "one class": [[1.0]],
}


@scorer_names
@pytest.mark.parametrize("bad", list(BAD))
def test_invalid_input_raises(name, bad):
    with pytest.raises(InvalidInputError):
        SCORERS[name](BAD[bad])


def test_invalid_input_error_is_value_error():
    with pytest.raises(ValueError):
        margin([[np.nan, 0.5]])


# --------------------------------------------------------------------------- random


def test_random_shape_and_range():
    s = random(np.zeros((17, 3)), random_state=0)
    assert s.shape == (17,)
    assert np.all((s >= 0) & (s < 1))
    assert random(5, random_state=0).shape == (5,)


def test_random_same_seed_same_result():
    np.testing.assert_array_equal(random(50, random_state=7), random(50, random_state=7))


def test_random_different_seeds_differ():
    assert not np.array_equal(random(50, random_state=1), random(50, random_state=2))


# --------------------------------------------------------------------------- compiled kernel
# The optional numba kernel (``_kernels``) must give what the numpy path gives. The
# numpy path is the reference here: it is itself checked against hand-worked values above.

KERNEL_KINDS = ["least_confidence", "margin", "ratio", "entropy"]
NORMALIZABLE = {"least_confidence", "entropy"}


def _kernels():
    pytest.importorskip("numba")
    from labelwise.strategies import _kernels

    return _kernels


@pytest.fixture
def kernel_for_all_sizes(monkeypatch):
    """Route every float32/float64 call of the scorers through the kernel (if numba is here)."""
    from labelwise.strategies import _uncertainty as U

    monkeypatch.setattr(U, "_KERNEL_MIN_SIZE", 0)


def _numpy_path(fn, p, **kw):
    from labelwise.strategies import _uncertainty as U

    saved = U._KERNEL_MIN_SIZE
    U._KERNEL_MIN_SIZE = 10**18
    try:
        return fn(p, **kw)
    finally:
        U._KERNEL_MIN_SIZE = saved


def _assert_same_scores(kind, got, want):
    if kind == "entropy":
        # the kernel sums p log p in numpy's pairwise order and is bit-identical where
        # numpy's log is the C library's; numpy's own SIMD log (AVX-512 builds) may
        # differ from it in the last place
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    else:
        np.testing.assert_array_equal(got, want)


def _awkward_proba(c, n, dtype, seed):
    """Dirichlet rows plus exact ties, one-hot rows, zeros and in-tolerance deviations."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([0.5] * c, size=n)
    p[::3] = rng.multinomial(8, [1 / c] * c, size=p[::3].shape[0]) / 8  # many exact ties
    p[1::7] = np.eye(c)[rng.integers(c, size=p[1::7].shape[0])]  # one-hot
    p[2::11, 0] += 4e-4  # row sums off by less than the 1e-3 tolerance
    p[5::13, :2] = [1.0005, -0.0005]  # slightly outside [0, 1], inside the tolerance
    p[5::13, 2:] = 0.0
    return p.astype(dtype)


@pytest.mark.parametrize("kind", KERNEL_KINDS)
@pytest.mark.parametrize("c", [2, 3, 10, 50, 200])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_equals_numpy_path(kind, c, dtype):
    K = _kernels()
    p = _awkward_proba(c, 3000, dtype, seed=c)
    for normalize in [False, True] if kind in NORMALIZABLE else [False]:
        kw = {"normalize": True} if normalize else {}
        got = K.uncertainty_scores(p, kind, normalize=normalize)
        assert got is not None, "valid input must not be sent back to the numpy path"
        _assert_same_scores(kind, got, _numpy_path(SCORERS[kind], p, **kw))


@pytest.mark.parametrize("kind", KERNEL_KINDS)
@settings(max_examples=30, deadline=None)
@given(p=proba_rows(max_classes=12, max_rows=12))
def test_kernel_equals_numpy_path_generated(kind, p):
    K = _kernels()
    got = K.uncertainty_scores(np.ascontiguousarray(p), kind)
    assert got is not None
    _assert_same_scores(kind, got, _numpy_path(SCORERS[kind], p))


@pytest.mark.parametrize("kind", KERNEL_KINDS)
def test_kernel_route_through_public_scorers(kind, kernel_for_all_sizes):
    _kernels()
    p = _awkward_proba(10, 500, np.float64, seed=1)
    # Fortran order and a strided view take the kernel too (as a contiguous copy)
    for q in (p, np.asfortranarray(p), p[::2], p.astype(np.float32)):
        _assert_same_scores(kind, SCORERS[kind](q), _numpy_path(SCORERS[kind], q))


BAD_ROWS = {
    "NaN": [np.nan, 0.5, 0.5],
    "inf": [np.inf, 0.0, 0.0],
    "-inf": [-np.inf, 1.0, 0.0],
    "negative": [1.2, -0.2, 0.0],
    "above one": [1.01, 0.0, 0.0],
    "row sums to 0.9": [0.5, 0.4, 0.0],
    "row sums to 1.2": [0.6, 0.3, 0.3],
}


@pytest.mark.parametrize("kind", KERNEL_KINDS)
@pytest.mark.parametrize("bad", list(BAD_ROWS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_invalid_input_same_message(kind, bad, dtype, kernel_for_all_sizes):
    K = _kernels()
    p = np.tile(np.array([0.2, 0.3, 0.5]), (50, 1))
    p[17] = BAD_ROWS[bad]
    p[40] = [0.5, 0.2, 0.2]  # a second bad row: the message must name the first one
    p = p.astype(dtype)
    assert K.uncertainty_scores(p, kind) is None
    with pytest.raises(InvalidInputError) as numpy_err:
        _numpy_path(SCORERS[kind], p)
    with pytest.raises(InvalidInputError) as kernel_err:
        SCORERS[kind](p)
    assert str(kernel_err.value) == str(numpy_err.value)


@pytest.mark.parametrize("kind", KERNEL_KINDS)
def test_kernel_sum_at_the_tolerance_defers_to_numpy(kind, kernel_for_all_sizes):
    K = _kernels()
    # |sum - 1| within rounding of the 1e-3 tolerance: the kernel leaves the verdict to
    # check_proba, whose pairwise sum may round the other way
    p = np.tile(np.array([0.2, 0.3, 0.5]), (20, 1))
    p[3] = [0.2, 0.3, 0.5 + 1e-3 - 1e-12]
    assert K.uncertainty_scores(p, kind) is None
    _assert_same_scores(kind, SCORERS[kind](p), _numpy_path(SCORERS[kind], p))


@pytest.mark.parametrize("kind", KERNEL_KINDS)
def test_kernel_selection_same_as_numpy_path(kind, kernel_for_all_sizes):
    _kernels()
    from labelwise.strategies import QueryContext, get_strategy

    p = _awkward_proba(10, 2000, np.float64, seed=3)  # many exact ties at the top
    ctx = QueryContext(candidates=np.arange(p.shape[0]), proba=p)
    got = get_strategy(kind).query(ctx, 100, random_state=7)
    want = _numpy_path(lambda q: get_strategy(kind).query(ctx, 100, random_state=7), p)
    np.testing.assert_array_equal(got.indices, want.indices)


def test_kernel_concurrent_calls_from_threads(kernel_for_all_sizes):
    _kernels()
    from concurrent.futures import ThreadPoolExecutor

    p = _awkward_proba(10, 20_000, np.float64, seed=4)
    want = _numpy_path(margin, p)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: margin(p), range(8)))
    for r in results:
        np.testing.assert_array_equal(r, want)


def test_no_kernel_below_the_size_threshold(monkeypatch):
    from labelwise.strategies import _uncertainty as U

    def fail():
        raise AssertionError("small inputs must not load the kernel")

    monkeypatch.setattr(U, "_load_kernels", fail)
    np.testing.assert_allclose(margin([[0.6, 0.3, 0.1]]), [0.7], rtol=0, atol=1e-12)


def test_without_numba_the_numpy_path_runs(monkeypatch, kernel_for_all_sizes):
    from labelwise.strategies import _uncertainty as U

    monkeypatch.setattr(U, "_load_kernels", lambda: None)
    np.testing.assert_allclose(margin([[0.6, 0.3, 0.1]]), [0.7], rtol=0, atol=1e-12)
    with pytest.raises(InvalidInputError, match="contains NaN or inf"):
        margin([[np.nan, 0.5]])


def test_kernel_not_used_in_a_forked_child(monkeypatch):
    K = _kernels()
    monkeypatch.setattr(K, "_state", {"launched": True, "usable": True})
    K._after_fork_in_child()
    assert K.uncertainty_scores(np.array([[0.5, 0.5]]), "margin") is None
