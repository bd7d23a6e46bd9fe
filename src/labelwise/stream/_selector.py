"""Stream-based selective sampling: one arriving sample at a time, ask or pass, on a budget."""

from __future__ import annotations

import numpy as np

from labelwise.errors import InvalidInputError, shorten
from labelwise.models._sklearn import clone_model
from labelwise.strategies._registry import UNCERTAINTY_SCORERS, get_strategy
from labelwise.strategies._uncertainty import entropy, least_confidence
from labelwise.stream._managers import TokenBucket, check_budget, make_manager

__all__ = ["StreamSelector", "STREAM_STRATEGIES", "stream_utility"]

#: Scorers whose value for one sample comes from its class probabilities alone,
#: each in [0, 1] with 1 at the uniform distribution (least_confidence and entropy
#: normalised), plus ``random``, the baseline.
STREAM_STRATEGIES = (*UNCERTAINTY_SCORERS, "random")

_NORMALIZED = {
    "least_confidence": lambda p: least_confidence(p, normalize=True),
    "entropy": lambda p: entropy(p, normalize=True),
}


def check_stream_strategy(name: str) -> str:
    """A strategy a stream can use, or a clear error naming those it can."""
    get_strategy(name)  # an unknown name: the registry's message, with a did-you-mean
    if name not in STREAM_STRATEGIES:
        raise InvalidInputError(
            f"strategy {name!r} scores a whole pool; a stream scores one sample from its "
            f"class probabilities: use one of {', '.join(STREAM_STRATEGIES)}."
        )
    return name


def stream_utility(strategy: str, proba) -> np.ndarray:
    """Utilities in [0, 1] (1 = the uniform distribution) of a registry uncertainty scorer.

    Parameters
    ----------
    strategy : str
        One of :data:`STREAM_STRATEGIES` except ``random``.
    proba : array-like of shape (n_samples, n_classes)

    Returns
    -------
    utility : ndarray of shape (n_samples,)

    Examples
    --------
    >>> stream_utility("least_confidence", [[0.5, 0.5], [1.0, 0.0]])
    array([1., 0.])
    """
    fn = _NORMALIZED.get(strategy, UNCERTAINTY_SCORERS[strategy])
    return np.clip(np.asarray(fn(proba), dtype=np.float64), 0.0, 1.0)


class StreamSelector:
    """Decide for each arriving sample whether to ask for its label, within a budget.

    A scorer from the strategy registry turns the model's class probabilities for
    the sample into a utility in [0, 1]; a budget manager decides on it; a token
    bucket caps the spend.

    Budget guarantee: over every window of ``W`` consecutive calls to :meth:`ask`, at
    most ``burst + floor((W - 1) * budget)`` samples are asked, which is at most
    ``ceil(budget * W)`` with the default ``burst=1`` (``ceil(budget * W) + burst - 1``
    in general). This holds for every manager, stream and model: the manager
    proposes, the :class:`~labelwise.stream.TokenBucket` disposes (see it for the
    proof). ``budget`` is read as the nearest fraction with a denominator up to 10**6.

    Parameters
    ----------
    strategy : str, default="margin"
        ``least_confidence``, ``margin``, ``ratio``, ``entropy``, ``variance`` or ``random``.
    budget : float, default=0.05
        Share of the stream that may be asked, in (0, 1].
    manager : str, default="variable_uncertainty"
        ``fixed``, ``variable_uncertainty``, ``split`` or ``balanced_incoming``
        (see :mod:`labelwise.stream._managers`).
    model : classifier, optional
        Anything with ``fit`` and ``predict_proba``. It is used as given until
        :meth:`fit` or :meth:`update` fit a copy of it. Without one every sample is
        as uncertain as can be (the budget alone decides).
    burst : int, default=1
        Asks the bucket may save up for a run of uncertain samples.
    manager_params : dict, optional
        The manager's own parameters (``w``, ``s``, ``theta``, ``v``, ``w_tol``,
        ``threshold``).
    random_state : int, numpy.random.Generator or None

    Attributes
    ----------
    n_seen_, n_asked_ : int
        Samples seen and asked so far.
    last_utility_ : float
        The utility of the sample last given to :meth:`ask`.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> sel = StreamSelector("margin", budget=0.1, model=LogisticRegression())
    >>> sel = sel.fit([[0.0], [1.0], [3.0], [4.0]], [0, 0, 1, 1])
    >>> asked = [sel.ask([x]) for x in (0.1, 2.0, 2.1, 3.9)]
    >>> sum(asked) <= 1  # ceil(0.1 * 4) = 1
    True
    """

    def __init__(
        self,
        strategy: str = "margin",
        budget: float = 0.05,
        manager: str = "variable_uncertainty",
        *,
        model=None,
        burst: int = 1,
        manager_params: dict | None = None,
        random_state=None,
    ):
        self.strategy = strategy
        self.budget = budget
        self.manager = manager
        self.model = model
        self.burst = burst
        self.manager_params = manager_params
        self.random_state = random_state
        check_stream_strategy(strategy)
        rng = np.random.default_rng(random_state)
        self.rng_ = rng
        self.bucket_ = TokenBucket(check_budget(budget), burst)
        self.manager_ = make_manager(
            manager, budget, random_state=rng.spawn(1)[0], **(manager_params or {})
        )
        self.model_ = model
        self.X_: list[np.ndarray] = []
        self.y_: list = []
        self.n_seen_ = 0
        self.n_asked_ = 0
        self.last_utility_ = float("nan")

    # -- scoring ---------------------------------------------------------------------------
    def utility(self, x=None, *, proba=None) -> float:
        """The utility of one sample, from ``proba`` if given, else from the model."""
        if self.strategy == "random":
            return float(self.rng_.random())
        if proba is None:
            if self.model_ is None:
                return 1.0
            proba = self.model_.predict_proba(_row(x))
        p = np.asarray(proba, dtype=np.float64)
        return float(stream_utility(self.strategy, p.reshape(1, -1))[0])

    def ask(self, x=None, *, proba=None) -> bool:
        """Whether to ask for the label of this arriving sample (counted against the budget).

        Parameters
        ----------
        x : array-like of shape (n_features,)
            The sample's features, as the model reads them.
        proba : array-like of shape (n_classes,), optional
            Its class probabilities from a model outside the selector, instead of ``x``.
        """
        if x is None and proba is None and self.model_ is not None and self.strategy != "random":
            raise InvalidInputError("ask needs the sample's features x (or its proba).")
        u = self.utility(x, proba=proba)
        allowed = self.bucket_.refill()
        asked = self.manager_.decide(u, allowed=allowed)
        if asked:
            self.bucket_.spend()
        self.n_seen_ += 1
        self.n_asked_ += int(asked)
        self.last_utility_ = u
        return bool(asked)

    # -- learning --------------------------------------------------------------------------
    def fit(self, X, y) -> StreamSelector:
        """Fit a copy of ``model`` on initial labeled data (kept; :meth:`update` adds to it)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] != len(y):
            raise InvalidInputError(
                f"fit needs X of shape (n_samples, n_features) and one label per row; got X of "
                f"shape {X.shape} and {len(y)} label(s)."
            )
        self.X_ = list(X)
        self.y_ = list(y)
        self._refit()
        return self

    def update(self, x, y) -> StreamSelector:
        """Add one labeled sample (an answered ask) and refit the model on everything so far."""
        self.X_.append(_row(x)[0])
        self.y_.append(y)
        self._refit()
        return self

    def _refit(self) -> None:
        if self.model is None or len(set(map(str, self.y_))) < 2:
            return  # a classifier needs two classes; keep the model as it was
        self.model_ = clone_model(self.model).fit(np.vstack(self.X_), np.asarray(self.y_))

    # -- persistence -----------------------------------------------------------------------
    def get_state(self) -> dict:
        """What to keep between runs so the budget holds across them (JSON-able)."""
        return {
            "config": self._config(),
            "bucket": self.bucket_.get_state(),
            "manager": self.manager_.get_state(),
            "rng": self.rng_.bit_generator.state,
            "n_seen": self.n_seen_,
            "n_asked": self.n_asked_,
        }

    def set_state(self, state: dict) -> bool:
        """Carry on from :meth:`get_state`; False (nothing changed) when the settings differ."""
        if not state or state.get("config") != self._config():
            return False
        self.bucket_.set_state(state["bucket"])
        self.manager_.set_state(state["manager"])
        self.rng_.bit_generator.state = state["rng"]
        self.n_seen_, self.n_asked_ = int(state["n_seen"]), int(state["n_asked"])
        return True

    def _config(self) -> dict:
        return {
            "strategy": self.strategy,
            "budget": float(self.budget),
            "manager": self.manager,
            "burst": int(self.burst),
            "manager_params": dict(self.manager_params or {}),
        }


def _row(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1:
        raise InvalidInputError(
            f"a stream sample is one row of features, shape (n_features,); got {shorten(a.shape)}."
        )
    if not np.isfinite(a).all():
        raise InvalidInputError("a stream sample holds NaN or inf; impute or drop it.")
    return a.reshape(1, -1)
