"""Budget managers and the hard cap: every window holds, and the managers match scikit-activeml."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest

from labelwise.errors import InvalidInputError, UnknownNameError
from labelwise.stream import (
    MANAGERS,
    BalancedIncomingManager,
    FixedManager,
    SplitManager,
    StreamSelector,
    TokenBucket,
    VariableUncertaintyManager,
)


def _max_per_window(asked: np.ndarray) -> np.ndarray:
    """out[W] = the most asks in any W consecutive samples, for every W = 1..n (brute force)."""
    n = asked.size
    cs = np.concatenate([[0], np.cumsum(asked, dtype=np.int64)])
    out = np.zeros(n + 1, dtype=np.int64)
    for w in range(1, n + 1):
        out[w] = (cs[w:] - cs[:-w]).max()
    return out


def _streams(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Probability rows (2 classes) of adversarial and ordinary streams."""
    p1 = {
        "all_uncertain": np.full(n, 0.5),
        "all_certain": np.full(n, 1.0),
        "random": rng.uniform(0.5, 1.0, n),
        # long lulls, then runs of maximally uncertain samples
        "bursts": np.where((np.arange(n) // 50) % 4 == 3, 0.5, 0.99),
        "alternating": np.where(np.arange(n) % 2 == 0, 0.5, 1.0),
    }
    return {k: np.column_stack([v, 1.0 - v]) for k, v in p1.items()}


@pytest.mark.parametrize("manager", list(MANAGERS))
@pytest.mark.parametrize(("budget", "burst"), [(0.05, 1), (0.3, 1), (0.1, 3)])
def test_budget_holds_over_every_window(manager, budget, burst):
    n = 400
    b = Fraction(budget).limit_denominator(10**6)
    bound = np.array(
        [0] + [burst + (w - 1) * b.numerator // b.denominator for w in range(1, n + 1)]
    )
    ceil_bound = np.array([0] + [-(-w * b.numerator // b.denominator) for w in range(1, n + 1)])
    spent_on_uncertain = []
    for seed in range(3):
        for name, proba in _streams(np.random.default_rng(seed), n).items():
            sel = StreamSelector("margin", budget, manager, burst=burst, random_state=seed)
            asked = np.array([sel.ask(proba=p) for p in proba])
            worst = _max_per_window(asked)
            assert (worst <= bound).all(), (name, seed, np.flatnonzero(worst > bound)[:5])
            if burst == 1:
                assert (worst <= ceil_bound).all(), (name, seed)
            assert sel.n_asked_ == asked.sum()
            if name == "all_uncertain":
                spent_on_uncertain.append(asked.sum())
    # the cap binds but does not starve: an all-uncertain stream spends close to the budget
    assert min(spent_on_uncertain) >= int(0.5 * budget * n)


def test_bucket_bound_is_tight_and_exact():
    # asking whenever allowed at 1/20: asks at samples 0, 20, 40, ... (hand-worked)
    bucket = TokenBucket(0.05)
    asked = []
    for _ in range(100):
        ok = bucket.refill()
        if ok:
            bucket.spend()
        asked.append(ok)
    assert np.flatnonzero(asked).tolist() == [0, 20, 40, 60, 80]
    worst = _max_per_window(np.array(asked))
    assert worst[20] == 1 and worst[21] == 2  # ceil(0.05 * 20) = 1, ceil(0.05 * 21) = 2
    assert bucket.max_asked(20) == 1 and bucket.max_asked(21) == 2
    assert TokenBucket(0.05, burst=3).max_asked(20) == 3


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "0.1", True])
def test_bad_budget_is_named(bad):
    with pytest.raises(InvalidInputError, match="--budget"):
        StreamSelector("margin", bad)


def test_unknown_manager_and_strategy_are_named():
    with pytest.raises(UnknownNameError, match="Did you mean 'split'"):
        StreamSelector("margin", 0.1, "splitt")
    with pytest.raises(InvalidInputError, match="one sample"):
        StreamSelector("k_center_greedy", 0.1)
    with pytest.raises(InvalidInputError, match="w must be a positive integer"):
        StreamSelector("margin", 0.1, "fixed", manager_params={"w": 0})


# -- the same decisions as scikit-activeml on the same utilities ----------------------------

skbm = pytest.importorskip("skactiveml.stream.budgetmanager", reason="pip install -e '.[dev]'")


def _sk_decisions(bm, utilities, *, with_utilities=False):
    out = []
    for u in utilities:
        q = bm.query_by_utility(np.array([u]))
        kw = {"utilities": np.array([u])} if with_utilities else {}
        bm.update(np.zeros((1, 1)), q, **kw)
        out.append(len(q) == 1)
    return np.array(out)


@pytest.mark.parametrize("budget", [0.05, 0.2])
def test_fixed_matches_scikit_activeml(budget):
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(3) * 0.7, size=600)
    p1 = proba.max(axis=1)
    sk = skbm.FixedUncertaintyBudgetManager(classes=[0, 1, 2], w=100, budget=budget)
    theirs = _sk_decisions(sk, 1.0 - p1)  # their utility: 1 - p1, against 1/C + b(1 - 1/C)
    ours_m = FixedManager(budget, w=100)
    lc_norm = (1.0 - p1) * 3 / 2  # normalised least confidence, against 1 - budget
    ours = np.array([ours_m.decide(u) for u in lc_norm])
    assert theirs.sum() > 5
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("budget", [0.05, 0.2])
def test_variable_uncertainty_matches_scikit_activeml(budget):
    u = np.random.default_rng(2).beta(0.6, 2.0, size=800)
    theirs = _sk_decisions(
        skbm.VariableUncertaintyBudgetManager(theta=1.0, s=0.01, w=100, budget=budget), u
    )
    m = VariableUncertaintyManager(budget, theta=1.0, s=0.01, w=100)
    ours = np.array([m.decide(x) for x in u])
    assert 5 < theirs.sum() < 800
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("seed", [0, 7])
def test_split_matches_scikit_activeml_with_the_same_random_draws(seed):
    u = np.random.default_rng(3).uniform(size=800)
    rs = np.random.RandomState(seed)
    # the same Mersenne Twister stream: RandomState.random_sample == Generator.random
    ours_rng = np.random.Generator(copy.deepcopy(rs._bit_generator))
    sk = skbm.SplitBudgetManager(v=0.1, theta=1.0, s=0.01, random_state=rs, w=100, budget=0.1)
    theirs = _sk_decisions(sk, u)
    m = SplitManager(0.1, v=0.1, theta=1.0, s=0.01, w=100, random_state=ours_rng)
    ours = np.array([m.decide(x) for x in u])
    assert theirs.sum() > 10
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("budget", [0.05, 0.2])
def test_balanced_incoming_matches_scikit_activeml_quantile_filter(budget):
    u = np.random.default_rng(4).uniform(size=600)
    sk = skbm.BalancedIncrementalQuantileFilter(w=100, w_tol=50, budget=budget)
    theirs = _sk_decisions(sk, u, with_utilities=True)
    m = BalancedIncomingManager(budget, w=100, w_tol=50)
    ours = np.array([m.decide(x) for x in u])
    assert theirs.sum() > 10
    np.testing.assert_array_equal(ours, theirs)


def test_state_round_trip_continues_the_same_decisions():
    rng = np.random.default_rng(5)
    proba = np.column_stack([p := rng.uniform(0.5, 1.0, 300), 1 - p])
    whole = StreamSelector("margin", 0.1, "split", random_state=3)
    a = [whole.ask(proba=r) for r in proba]
    first = StreamSelector("margin", 0.1, "split", random_state=3)
    b = [first.ask(proba=r) for r in proba[:150]]
    import json

    state = json.loads(json.dumps(first.get_state()))  # JSON-able, as the project stores it
    second = StreamSelector("margin", 0.1, "split", random_state=99)
    assert second.set_state(state)
    b += [second.ask(proba=r) for r in proba[150:]]
    assert a == b
    assert not StreamSelector("margin", 0.2, "split").set_state(state)  # other settings


def test_the_managers_alone_bound_no_window():
    # why the token bucket: Žliobaitė's spend estimate lets a run of uncertain samples
    # through (u_t: 0, 1, 1.99, 2.97, 3.94, 4.90 < 5 = 0.05 * 100): six asks in a row
    m = VariableUncertaintyManager(0.05, w=100)
    asked = np.array([m.decide(1.0) for _ in range(200)])
    assert asked[:6].all() and not asked[6]
    assert _max_per_window(asked)[6] == 6 > 1  # ceil(0.05 * 6) = 1
