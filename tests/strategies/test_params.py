"""Strategy parameters by name: unknown names and unusable values are refused, with did-you-mean.

Every way in (Python ``get_strategy``, ``select_batch(**params)``, the pipeline's
``strategy.params`` and ``strengths``) goes through ``Strategy.with_params``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import numpy as np
import pytest

from labelwise.errors import InvalidInputError, LabelwiseError, UnknownNameError
from labelwise.strategies import STRATEGIES, QueryContext, get_strategy


@pytest.mark.parametrize(
    ("name", "params", "error", "needles"),
    [
        ("margin", {"normalise": True}, InvalidInputError, ("'normalise'", "cost_lambda")),
        ("kmeans_equal", {"n_cluster": 3}, InvalidInputError, ("Did you mean 'n_clusters'?",)),
        ("badge", {"uncertainty": "margin"}, InvalidInputError, ("it takes none",)),
        ("margin", {"strengths": {"margin": 1.0}}, InvalidInputError, ("'strengths'",)),
        ("weighted", {"strengths": {"margn": 1.0}}, UnknownNameError, ("Did you mean 'margin'?",)),
        ("weighted", {"strengths": {"margin": "high"}}, InvalidInputError, ("not a number",)),
        ("weighted", {"strengths": ["margin"]}, InvalidInputError, ("must map",)),
        ("class_balance", {"uncertainty": "entrpy"}, UnknownNameError, ("'entropy'",)),
        ("intersection", {"criteria": "margin"}, InvalidInputError, ("a list",)),
        ("intersection", {"criteria": ["novelty", "divrsity"]}, UnknownNameError, ("'diversity'",)),
        ("kmeans_equal", {"n_clusters": 0}, InvalidInputError, ("positive integer",)),
        ("kmeans_equal", {"n_clusters": "3"}, InvalidInputError, ("positive integer",)),
        ("margin", {"cost_lambda": "one"}, InvalidInputError, ("cost_lambda must be a number",)),
    ],
)
def test_bad_params_are_refused(name, params, error, needles):
    with pytest.raises(error) as e:
        get_strategy(name, **params)
    for n in needles:
        assert n in str(e.value)


def test_good_params_are_kept():
    s = get_strategy("weighted", strengths={"price": -1.0, "margin": 2}, metadata={"price": [1]})
    assert s.params["strengths"] == {"price": -1.0, "margin": 2}
    assert get_strategy("kmeans_proportional", uncertainty="entropy", n_clusters=4).params == {
        "uncertainty": "entropy",
        "n_clusters": 4,
    }


def test_a_huge_name_is_echoed_short():
    with pytest.raises(InvalidInputError) as e:
        get_strategy("margin", **{"k" * 1_000_000: 1})
    assert len(str(e.value)) < 300
    with pytest.raises(UnknownNameError) as e:
        get_strategy("m" * 1_000_000)
    assert len(str(e.value)) < 300


class _Spy(Mapping):
    """Empty params that remember every name a strategy looked up."""

    def __init__(self):
        self.seen: set[str] = set()

    def __getitem__(self, key):
        self.seen.add(key)
        raise KeyError(key)

    def get(self, key, default=None):
        self.seen.add(key)
        return default

    def __contains__(self, key):
        self.seen.add(key)
        return False

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0


def _context(cost: bool) -> QueryContext:
    from labelwise.models import make_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    labeled = np.flatnonzero(
        np.isin(np.arange(40), [*np.flatnonzero(y == 0)[:4], *np.flatnonzero(y == 1)[:4]])
    )
    cand = np.setdiff1d(np.arange(40), labeled)
    model = make_model("logreg", classes=np.arange(2)).fit(X[labeled], y[labeled])
    proba = model.predict_proba(X[cand])
    noise = rng.uniform(0.5, 1.5, size=(3, *proba.shape))
    probas = proba * noise / (proba * noise).sum(axis=-1, keepdims=True)
    return QueryContext(
        candidates=cand,
        labeled=labeled,
        X=X,
        proba=proba,
        probas=probas,
        predictions=rng.normal(size=(3, cand.size)),
        std=rng.random(cand.size),
        n_classes=2,
        cost=rng.uniform(0.5, 2.0, cand.size) if cost else None,
        model=model,
        y_labeled=y[labeled],
    )


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_name_a_strategy_reads_is_declared(name):
    """The declared names (its signature) cover what the strategy actually reads."""
    s = STRATEGIES[name]
    for cost in (False, True) if s.cost_aware else (False,):
        spy = _Spy()
        # a strategy may refuse this context (a multilabel scorer): what it read still counts
        with contextlib.suppress(LabelwiseError):
            s.query_fn(_context(cost), 3, np.random.default_rng(0), spy)
        assert spy.seen <= s.param_names, sorted(spy.seen - s.param_names)
