"""The common contract every registered strategy must honour (STYLE.md, "Strategies").

One contract test runs every name in the registry through the same checks on
hypothesis-generated pools, probabilities, committees and index splits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import labelwise.strategies as S
from labelwise.errors import EmptyPoolError, MissingRequirementError, UnknownNameError
from labelwise.strategies import (
    COMMITTEE_SCORERS,
    STRATEGIES,
    UNCERTAINTY_SCORERS,
    QueryContext,
    Selection,
    get_strategy,
    strategy_names,
)

ALL = strategy_names()
# what each requirement in ``Strategy.needs`` is called on the QueryContext
_FIELD = {
    "proba": "proba",
    "committee": "probas",
    "regression_committee": "predictions",
    "std": "std",
    "X": "X",
    "model": "model",
    "detections": "detections",
    "masks": "masks",
}


def _detections(n: int, n_classes: int, seed: int) -> tuple[S.Detections, S.SegmentationMaps]:
    """Random boxes (3 passes, class scores; some images with none) and maps for n images."""
    rng = np.random.default_rng(seed)
    n_boxes = int(rng.integers(0, 3 * n + 1))
    det = S.Detections(
        sample=rng.integers(0, n, n_boxes),
        score=rng.random(n_boxes),
        n_samples=n,
        label=rng.integers(0, n_classes, n_boxes),
        boxes=np.column_stack([rng.random((n_boxes, 2)) * 50, rng.random((n_boxes, 2)) * 20]),
        class_scores=rng.dirichlet(np.ones(n_classes), n_boxes),
        member=rng.integers(0, 3, n_boxes),
        n_members=3,
        classes=tuple(f"c{k}" for k in range(n_classes)),
    )
    # odd rows: an (H, W) foreground map; even rows: (C, H, W) class probabilities
    maps = {
        int(i): rng.dirichlet(np.ones(2), (4, 5))[..., 0]
        if i % 2
        else rng.dirichlet(np.ones(n_classes), (3, 4)).transpose(2, 0, 1)
        for i in rng.choice(n, size=int(rng.integers(0, n + 1)), replace=False)
    }
    return det, S.SegmentationMaps(maps, n_samples=n)


def _fitted_model(X, labeled, y_labeled, n_classes):
    """A logistic regression on the labeled rows (None with nothing labeled)."""
    from labelwise.models import make_model

    if labeled.size == 0:
        return None
    return make_model("logreg", classes=np.arange(n_classes)).fit(X[labeled], y_labeled)


def _normalise(w: np.ndarray) -> np.ndarray:
    w = w.copy()
    w[w.sum(axis=-1) == 0] = 1.0  # an all-zero row becomes uniform
    return w / w.sum(axis=-1, keepdims=True)


@st.composite
def contexts(draw):
    """A pool, an index split and everything a strategy may need, aligned with the candidates."""
    n = draw(st.integers(5, 80))
    d = draw(st.integers(1, 6))
    X = draw(
        hnp.arrays(
            np.float64,
            (n, d),
            elements=st.floats(-10, 10, allow_subnormal=False, width=32),
        )
    )
    n_classes = draw(st.integers(2, 5))
    order = np.array(draw(st.permutations(range(n))), dtype=np.intp)
    n_labeled = draw(st.integers(0, n - 1))
    n_cand = draw(st.integers(1, n - n_labeled))
    labeled = np.sort(order[:n_labeled])
    candidates = order[n_labeled : n_labeled + n_cand]  # in drawn (not sorted) order
    prob_el = st.one_of(st.just(0.0), st.floats(1e-3, 1.0))
    proba = _normalise(draw(hnp.arrays(np.float64, (n_cand, n_classes), elements=prob_el)))
    probas = _normalise(draw(hnp.arrays(np.float64, (3, n_cand, n_classes), elements=prob_el)))
    predictions = draw(hnp.arrays(np.float64, (3, n_cand), elements=st.floats(-100, 100)))
    std = draw(hnp.arrays(np.float64, (n_cand,), elements=st.floats(0, 100)))
    y_labeled = np.array(
        draw(st.lists(st.integers(0, n_classes - 1), min_size=n_labeled, max_size=n_labeled)),
        dtype=np.int64,
    )
    detections, masks = _detections(n, n_classes, draw(st.integers(0, 2**32 - 1)))
    ctx = QueryContext(
        candidates=candidates,
        labeled=labeled,
        X=X,
        proba=proba,
        probas=probas,
        predictions=predictions,
        std=std,
        n_classes=n_classes,
        model=_fitted_model(X, labeled, y_labeled, n_classes),
        y_labeled=y_labeled,
        detections=detections,
        masks=masks,
    )
    batch_size = draw(st.integers(1, n + 5))
    return ctx, batch_size


def _snapshot(ctx: QueryContext) -> dict:
    return {
        k: np.array(getattr(ctx, k), copy=True)
        for k in ("candidates", "labeled", "X", "proba", "probas", "predictions", "std")
    }


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=contexts(), seed=st.integers(0, 2**32 - 1))
def test_strategy_contract(name, case, seed):
    ctx, batch_size = case
    strategy = STRATEGIES[name]
    assume(ctx.model is not None or "model" not in strategy.needs)
    before = _snapshot(ctx)

    sel = strategy.query(ctx, batch_size, random_state=seed)
    assert isinstance(sel, Selection)
    assert sel.strategy == name
    idx = np.asarray(sel.indices)
    assert np.issubdtype(idx.dtype, np.integer)
    assert idx.ndim == 1
    # unique, a subset of the candidates, min(batch_size, n_candidates) of them
    assert len(set(idx.tolist())) == idx.size
    assert set(idx.tolist()) <= set(ctx.candidates.tolist())
    assert idx.size == min(batch_size, ctx.candidates.size)
    # never a labeled row (candidates exclude them)
    assert not set(idx.tolist()) & set(ctx.labeled.tolist())

    # same random_state -> identical result
    again = strategy.query(ctx, batch_size, random_state=seed)
    np.testing.assert_array_equal(again.indices, idx)

    # one Pick per index, with a reason and finite values
    picks = sel.picks()
    assert [p.index for p in picks] == idx.tolist()
    assert [p.position for p in picks] == list(range(idx.size))
    for p in picks:
        assert isinstance(p.reason, str) and p.reason.strip()
        assert all(math.isfinite(v) for v in p.raw.values()), p.raw
        assert all(0.0 <= v <= 1.0 for v in p.normalized.values()), p.normalized
    # every criterion is one finite value per candidate
    for values in sel.criteria.values():
        assert np.shape(values) == (ctx.candidates.size,)
        assert np.isfinite(values).all()

    # strategies never mutate what they are given
    for k, v in _snapshot(ctx).items():
        np.testing.assert_array_equal(v, before[k])


def _full_context(n_cand: int, n: int = 10, c: int = 3) -> QueryContext:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    labeled = np.arange(0, n - n_cand, dtype=np.intp)
    y_labeled = np.arange(labeled.size) % c
    return QueryContext(
        candidates=np.arange(n - n_cand, n, dtype=np.intp),
        labeled=labeled,
        X=X,
        model=_fitted_model(X, labeled, y_labeled, c),
        y_labeled=y_labeled,
        proba=np.full((n_cand, c), 1.0 / c),
        probas=np.full((3, n_cand, c), 1.0 / c),
        predictions=np.zeros((3, n_cand)),
        std=np.ones(n_cand),
        n_classes=c,
        detections=_detections(n, c, 0)[0],
        masks=_detections(n, c, 0)[1],
    )


@pytest.mark.parametrize("name", ALL)
def test_empty_candidates_raise_empty_pool(name):
    ctx = _full_context(0)
    with pytest.raises(EmptyPoolError):
        STRATEGIES[name].query(ctx, 3, random_state=0)


@pytest.mark.parametrize("name", ALL)
def test_missing_requirement_raises(name):
    strategy = STRATEGIES[name]
    required = sorted(strategy.needs - {"labeled"})
    assert set(required) <= set(_FIELD)
    for need in required:
        ctx = _full_context(4)
        kwargs = {f: getattr(ctx, f) for f in ctx.__dataclass_fields__}
        kwargs[_FIELD[need]] = None
        with pytest.raises(MissingRequirementError) as info:
            strategy.query(QueryContext(**kwargs), 2, random_state=0)
        assert isinstance(info.value, ValueError)
    if not required:
        # a strategy that needs nothing works from the candidates alone
        sel = strategy.query(QueryContext(candidates=np.arange(5)), 2, random_state=0)
        assert len(sel.indices) == 2


def test_missing_proba_for_margin():
    ctx = QueryContext(candidates=np.arange(4), X=np.zeros((4, 2)))
    with pytest.raises(MissingRequirementError, match="proba"):
        STRATEGIES["margin"].query(ctx, 2)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad", [0, -1, 2.0])
def test_bad_batch_size(name, bad):
    with pytest.raises(ValueError):
        STRATEGIES[name].query(_full_context(4), bad, random_state=0)


def test_registry_names():
    assert ALL == list(STRATEGIES)
    assert len(ALL) == len(set(ALL))
    for name, strategy in STRATEGIES.items():
        assert strategy.name == name
        assert get_strategy(name) is strategy
    # registry key == function name for every scorer that is also a public function
    for name in [*UNCERTAINTY_SCORERS, *COMMITTEE_SCORERS, "committee_std", "novelty", "random"]:
        assert name in STRATEGIES
        assert getattr(S, name).__name__ == name
    assert "committee_std" in strategy_names("regression")
    assert "committee_std" not in strategy_names("classification")
    assert "margin" in strategy_names("classification")
    assert "margin" not in strategy_names("regression")
    for name, strategy in STRATEGIES.items():  # a strategy is listed for its own task
        assert name in strategy_names(strategy.task)
    with pytest.raises(UnknownNameError):
        get_strategy("marginn")
    with pytest.raises(KeyError):
        get_strategy("nope")


def test_picks_hand_worked():
    # four candidates, margin 0.2 / 0.9 / 0.5 / 0.7; picks 11 (0.9) then 13 (0.7)
    #   normalised = share of the other candidates scoring strictly lower: 3/3 = 1, 2/3
    #   "top": 0.9 is the best of 4 -> top 25%; 0.7 is beaten by one -> (1 - 2/3) = top 33%
    sel = Selection(
        "margin",
        indices=np.array([11, 13]),
        candidates=np.array([10, 11, 12, 13]),
        criteria={"margin": np.array([0.2, 0.9, 0.5, 0.7])},
        at_pick={"distance_to_chosen": np.array([1.5, 0.25])},
        note="cold start",
    )
    first, second = sel.picks()
    assert (first.index, first.position, second.index, second.position) == (11, 0, 13, 1)
    assert first.raw == {"margin": 0.9, "distance_to_chosen": 1.5}
    assert second.raw == {"margin": 0.7, "distance_to_chosen": 0.25}
    assert first.normalized == pytest.approx({"margin": 1.0})
    assert second.normalized == pytest.approx({"margin": 2 / 3})
    # the reason names each criterion with its value and standing, then the note
    assert "margin 0.9" in first.reason and "(top 25%)" in first.reason
    assert "margin 0.7" in second.reason and "(top 33%)" in second.reason
    assert "distance to chosen 1.5" in first.reason and "distance to chosen 0.25" in second.reason
    assert first.reason.endswith("cold start") and second.reason.endswith("cold start")


# --------------------------------------------------------------------------- permutation invariance

DETERMINISTIC = [*UNCERTAINTY_SCORERS, *COMMITTEE_SCORERS, "committee_std", "novelty"] + [
    n for n in ("predictive_std", "multilabel_mean", "multilabel_max") if n in STRATEGIES
]


def _unambiguous_batch(scores: np.ndarray, b0: int, tol: float) -> int:
    """Smallest b >= b0 whose top-b set does not depend on how ties are broken."""
    s = np.sort(scores)[::-1]
    b = min(b0, s.size)
    while b < s.size and s[b - 1] - s[b] <= tol:
        b += 1
    return b


@pytest.mark.parametrize("name", DETERMINISTIC)
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(5, 80),
    d=st.integers(1, 6),
    c=st.integers(2, 5),
    data=st.data(),
)
def test_row_permutation_permutes_selection(name, seed, n, d, c, data):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    n_labeled = data.draw(st.integers(1, n - 1), label="n_labeled")
    order = rng.permutation(n)
    labeled, cand = np.sort(order[:n_labeled]), order[n_labeled:]
    m = cand.size
    ctx = QueryContext(
        candidates=cand,
        labeled=labeled,
        X=X,
        proba=rng.dirichlet(np.ones(c), size=m),
        probas=rng.dirichlet(np.ones(c), size=(3, m)),
        predictions=rng.normal(size=(3, m)),
        std=rng.random(m),
        n_classes=c,
    )
    strategy = STRATEGIES[name]
    scores = strategy.query(ctx, 1, random_state=0).criteria[name]
    tol = 1e-6 * (1.0 + float(np.abs(scores).max()))
    b = _unambiguous_batch(scores, data.draw(st.integers(1, m), label="b0"), tol)

    # permute the pool rows (new row i = old row perm[i]) and the order of the candidates
    perm = rng.permutation(n)
    new_of_old = np.argsort(perm)
    sigma = rng.permutation(m)
    ctx2 = QueryContext(
        candidates=new_of_old[cand[sigma]],
        labeled=new_of_old[labeled],
        X=X[perm],
        proba=ctx.proba[sigma],
        probas=ctx.probas[:, sigma],
        predictions=ctx.predictions[:, sigma],
        std=ctx.std[sigma],
        n_classes=c,
    )
    first = strategy.query(ctx, b, random_state=seed).indices
    second = perm[strategy.query(ctx2, b, random_state=seed).indices]  # back to old indices
    assert set(second.tolist()) == set(first.tolist())
    chosen = np.sort(scores[np.isin(cand, first)])
    if chosen.size < 2 or np.all(np.diff(chosen) > tol):
        assert second.tolist() == first.tolist()  # distinct scores: the same order too
