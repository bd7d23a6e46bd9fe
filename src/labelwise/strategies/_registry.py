"""The strategy registry: one name per strategy, the same in Python, the CLI and YAML.

A strategy is a scorer plus a selector plus what it needs from the loop:

- ``proba``: class probabilities of the candidates from the current model;
- ``committee``: probabilities of every committee member, (n_members, n_candidates, n_classes);
- ``regression_committee``: member predictions, (n_members, n_candidates);
- ``X``: features or embeddings of the whole pool;
- ``labeled``: indices of the labeled rows;
- ``detections`` / ``masks``: a detector's predicted boxes (:class:`Detections`) or a
  segmentation model's per-pixel maps (:class:`SegmentationMaps`), pool-aligned.

The loop computes exactly what ``needs`` lists and hands it over in a
:class:`QueryContext`; the strategy returns a :class:`Selection` that keeps,
for every pick, its raw and normalised criterion values and a one-line reason.

Parameters (``uncertainty="entropy"``, ``strengths={...}``) reach a strategy by
name through :func:`get_strategy` / :meth:`Strategy.with_params`, from Python,
the CLI and the pipeline YAML alike; each strategy declares the names it reads
(``param_names``, its signature), and any other name is refused there, with a
did-you-mean, instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from labelwise._validation import check_batch_size, check_count_params
from labelwise.errors import (
    EmptyPoolError,
    InvalidInputError,
    MissingRequirementError,
    UnknownNameError,
    did_you_mean,
    shorten,
)
from labelwise.models._sklearn import model_method
from labelwise.strategies import _committee as C
from labelwise.strategies import _detection as D
from labelwise.strategies import _uncertainty as U
from labelwise.strategies._auto import AUTO_PARTS, auto
from labelwise.strategies._batch import badge, gradient_embedding, ranked_batch
from labelwise.strategies._density import (
    cluster_density,
    information_density,
    kde_density,
    knn_density,
    typicality,
)
from labelwise.strategies._expected import expected_error_reduction, expected_gradient_length
from labelwise.strategies._multilabel import multilabel_uncertainty
from labelwise.strategies._novelty import novelty, representativeness
from labelwise.strategies._selectors import (
    class_balance,
    intersection,
    iterative_proximity,
    k_center_greedy_with_gain,
    kmeans_equal,
    kmeans_proportional,
    top_positions,
    weighted,
)
from labelwise.strategies._typiclust import typiclust

__all__ = [
    "QueryContext",
    "Pick",
    "Selection",
    "Strategy",
    "STRATEGIES",
    "UNCERTAINTY_SCORERS",
    "COMMITTEE_SCORERS",
    "get_strategy",
    "strategy_names",
]

UNCERTAINTY_SCORERS: dict[str, Callable] = {
    "least_confidence": U.least_confidence,
    "margin": U.margin,
    "ratio": U.ratio,
    "entropy": U.entropy,
    "variance": U.variance,
}
COMMITTEE_SCORERS: dict[str, Callable] = {
    "vote_entropy": C.vote_entropy,
    "consensus_entropy": C.consensus_entropy,
    "kl_divergence": C.kl_divergence,
    "max_disagreement": C.max_disagreement,
    "bald": C.bald,
    "variation_ratio": C.variation_ratio,
}


@dataclass(frozen=True)
class QueryContext:
    """What the loop hands to a strategy; arrays are aligned with ``candidates``."""

    candidates: np.ndarray
    labeled: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    X: np.ndarray | None = None
    proba: np.ndarray | None = None
    probas: np.ndarray | None = None
    predictions: np.ndarray | None = None
    std: np.ndarray | None = None
    n_classes: int | None = None
    cost: np.ndarray | None = None
    model: object | None = None
    y_labeled: np.ndarray | None = None
    detections: D.Detections | None = None
    masks: D.SegmentationMaps | None = None


@dataclass(frozen=True)
class Pick:
    """One selected sample with its provenance."""

    index: int
    position: int
    raw: dict[str, float]
    normalized: dict[str, float]
    reason: str


@dataclass
class Selection:
    """A batch chosen by a strategy, with every criterion kept for inspection.

    Attributes
    ----------
    strategy : str
    indices : ndarray of int
        Absolute pool indices, in pick order.
    candidates : ndarray of int
        The candidates the batch was chosen from.
    criteria : dict of str to ndarray of shape (n_candidates,)
        Raw value of each criterion for every candidate (higher = label first).
    at_pick : dict of str to ndarray of shape (n_picks,)
        Criteria that only exist at pick time (e.g. distance to labeled ∪ chosen).
    note : str
        Appended to every reason (e.g. "cold start: no model yet").
    pick_notes : list of str
        Empty, or one note per pick in pick order, first in its reason (e.g. which
        part of ``auto`` chose it).
    skipped : ndarray of int
        Candidates left out without a score (a detection scorer's ``empty="skip"``).
    """

    strategy: str
    indices: np.ndarray
    candidates: np.ndarray
    criteria: dict[str, np.ndarray] = field(default_factory=dict)
    at_pick: dict[str, np.ndarray] = field(default_factory=dict)
    note: str = ""
    pick_notes: list[str] = field(default_factory=list)
    skipped: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))

    def picks(self) -> list[Pick]:
        """Provenance of every pick: raw and rank-normalised values and a reason."""
        pos_of = np.full(int(self.candidates.max()) + 1, -1, dtype=np.intp)
        pos_of[self.candidates] = np.arange(self.candidates.size)
        positions = pos_of[self.indices]
        n = self.candidates.size
        # normalised value = share of candidates scoring strictly lower (1.0 = the very top)
        normalized = {}
        for name, values in self.criteria.items():
            sorted_vals = np.sort(values)
            below = np.searchsorted(sorted_vals, values[positions], side="left")
            normalized[name] = below / max(n - 1, 1)
        out = []
        for t, (idx, p) in enumerate(zip(self.indices.tolist(), positions.tolist(), strict=True)):
            raw = {k: float(v[p]) for k, v in self.criteria.items()}
            raw.update({k: float(v[t]) for k, v in self.at_pick.items()})
            norm = {k: float(v[t]) for k, v in normalized.items()}
            parts = [self.pick_notes[t]] if self.pick_notes else []
            for k in self.criteria:
                top = max(1.0 - norm[k], 1.0 / n) * 100
                parts.append(f"{k} {_num(raw[k])} (top {_pct(top)})")
            for k in self.at_pick:
                fmt = _AT_PICK_FORMAT.get(k)
                parts.append(fmt(raw[k]) if fmt else f"{k.replace('_', ' ')} {_num(raw[k])}")
            if self.note:
                parts.append(self.note)
            reason = "; ".join(parts) if parts else self.strategy
            out.append(Pick(index=idx, position=t, raw=raw, normalized=norm, reason=reason))
        return out


_AT_PICK_FORMAT = {
    "sigma_from_labeled": lambda v: f"{v:+.1f}σ from the labeled set",
}


def _num(v: float) -> str:
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.4g}"


def _pct(x: float) -> str:
    return f"{x:.0f}%" if x >= 1 else f"{x:.1g}%"


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: ``query(context, batch_size, rng) -> Selection``."""

    name: str
    needs: frozenset[str]
    summary: str
    query_fn: Callable[[QueryContext, int, np.random.Generator, Mapping], Selection]
    params: Mapping = field(default_factory=dict)
    task: str = "classification"
    cost_aware: bool = False
    param_names: frozenset[str] = frozenset()

    def with_params(self, **params) -> Strategy:
        """Return a copy with parameters (e.g. ``uncertainty="entropy"``) changed.

        Raises
        ------
        InvalidInputError
            A name the strategy does not read (see ``param_names``), or a value it
            cannot use (an unknown criterion in ``strengths``, a bad ``n_clusters``).
        """
        merged = {**self.params, **params}
        _check_params(self, merged)
        return Strategy(
            self.name,
            self.needs,
            self.summary,
            self.query_fn,
            merged,
            self.task,
            self.cost_aware,
            self.param_names,
        )

    def query(self, context: QueryContext, batch_size: int, random_state=None) -> Selection:
        """Select a batch from ``context.candidates``."""
        b = check_batch_size(batch_size)
        if context.candidates.size == 0:
            raise EmptyPoolError(
                "The pool is empty: there are no unlabeled candidates to select from."
            )
        for need in sorted(self.needs):
            if need == "labeled":
                continue
            if getattr(context, _CONTEXT_FIELD[need]) is None:
                raise MissingRequirementError(
                    f"strategy {self.name!r} needs {_NEED_HINT[need]}, which was not given."
                )
        if context.cost is not None and not self.cost_aware:
            raise InvalidInputError(
                f"strategy {self.name!r} does not use a per-sample cost; use a scorer strategy "
                "(e.g. margin, entropy) or 'weighted' for cost-aware selection."
            )
        return self.query_fn(context, b, np.random.default_rng(random_state), self.params)


_CONTEXT_FIELD = {
    "proba": "proba",
    "committee": "probas",
    "regression_committee": "predictions",
    "std": "std",
    "X": "X",
    "model": "model",
    "detections": "detections",
    "masks": "masks",
}
_NEED_HINT = {
    "proba": "class probabilities from a fitted model (proba)",
    "committee": "committee probabilities (probas of shape (n_members, n_samples, n_classes)); "
    "use a bagged committee or an ensemble",
    "regression_committee": "member predictions of a regression committee (predictions)",
    "std": "a predictive standard deviation (std), e.g. from a Gaussian process (--model gp)",
    "X": "features or embeddings of the pool (X); compute them first",
    "model": "the fitted model and the labels of the labeled rows (model, y_labeled)",
    "detections": "a detector's predicted boxes (--predictions FILE: COCO results JSON, "
    "a folder of YOLO txt files with confidences, or a CSV/Parquet table)",
    "masks": "per-pixel predictions (--predictions: a folder of .npy/.npz maps, or COCO "
    "results with segmentation masks)",
}


def _check_uncertainty(name) -> str:
    if not isinstance(name, str) or name not in UNCERTAINTY_SCORERS:
        raise UnknownNameError(
            f"unknown uncertainty scorer {shorten(name)}; choose one of "
            f"{sorted(UNCERTAINTY_SCORERS)}." + did_you_mean(str(name), UNCERTAINTY_SCORERS)
        )
    return name


def _uncertainty(ctx: QueryContext, params: Mapping) -> tuple[str, np.ndarray]:
    name = _check_uncertainty(params.get("uncertainty", "margin"))
    return name, UNCERTAINTY_SCORERS[name](ctx.proba)


def _known_criteria(params: Mapping) -> list[str]:
    """Criterion names ``criteria`` and ``strengths`` may use (metadata columns included)."""
    meta = params.get("metadata") or {}
    return [*UNCERTAINTY_SCORERS, "novelty", "diversity", *meta]


def _check_params(strategy: Strategy, params: Mapping) -> None:
    """Refuse parameter names a strategy does not read, and values it cannot use."""
    allowed = sorted(strategy.param_names)
    for key in params:
        if key not in strategy.param_names:
            takes = f"its parameters are {', '.join(allowed)}" if allowed else "it takes none"
            raise InvalidInputError(
                f"strategy {strategy.name!r} has no parameter {shorten(key)}; {takes}."
                + did_you_mean(str(key), allowed)
            )
    if "metadata" in params and not isinstance(params["metadata"] or {}, Mapping):
        raise InvalidInputError("metadata must map criterion names to one value per sample.")
    if strategy.task in ("detection", "segmentation"):  # its own criteria and selectors
        D.check_params(strategy.name, params)
        return
    known = _known_criteria(params)
    if "uncertainty" in params:
        _check_uncertainty(params["uncertainty"])
    if params.get("strengths") is not None:
        strengths = params["strengths"]
        if not isinstance(strengths, Mapping):
            raise InvalidInputError(
                f"strengths must map criterion names to numbers, got {shorten(strengths)}."
            )
        for c, v in strengths.items():
            if c not in known and c != "cost":
                raise UnknownNameError(
                    f"strengths: unknown criterion {shorten(c)}; choose from "
                    f"{', '.join(known)}." + did_you_mean(str(c), known)
                )
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
                raise InvalidInputError(
                    f"strengths: {c} = {shorten(v)} is not a number; give e.g. {c}: 1.0."
                )
    if params.get("criteria") is not None:
        criteria = params["criteria"]
        if isinstance(criteria, str) or not isinstance(criteria, list | tuple):
            raise InvalidInputError(
                f"criteria must be a list of criterion names, got {shorten(criteria)}."
            )
        for c in criteria:
            if c not in known:
                raise UnknownNameError(
                    f"criteria: unknown criterion {shorten(c)}; choose from "
                    f"{', '.join(known)}." + did_you_mean(str(c), known)
                )
    check_count_params(params, ("n_clusters", "n_candidates", "n_eval"))


def cost_adjusted(scores: np.ndarray, cost: np.ndarray, cost_lambda: float) -> np.ndarray:
    """Cost-aware score ``score / cost**lambda`` (cost > 0, checked by the caller)."""
    return scores / np.power(cost, cost_lambda)


def _top_k_query(name: str, score: Callable[[QueryContext, np.random.Generator], np.ndarray]):
    def query(ctx, b, rng, params):
        s = score(ctx, rng)
        criteria = {name: s}
        ranked = s
        if ctx.cost is not None:
            lam = float(params.get("cost_lambda", 1.0))
            ranked = cost_adjusted(s, ctx.cost, lam)
            criteria = {name: s, "cost": ctx.cost, f"{name}_per_cost": ranked}
        pos = top_positions(ranked, b, rng)
        return Selection(name, ctx.candidates[pos], ctx.candidates, criteria)

    return query


def _n_clusters(ctx: QueryContext, params: Mapping, b: int) -> int:
    k = params.get("n_clusters")
    if k is None:
        k = ctx.n_classes or min(b, 10)
    return int(k)


def _k_center_greedy(ctx, b, rng, params):
    idx, gain = k_center_greedy_with_gain(
        ctx.X, labeled=ctx.labeled, batch_size=b, candidates=ctx.candidates, random_state=rng
    )
    return Selection(
        "k_center_greedy", idx, ctx.candidates, {}, {"distance_to_labeled_or_chosen": gain}
    )


def _kmeans_equal(ctx, b, rng, params):
    idx = kmeans_equal(
        ctx.X,
        batch_size=b,
        labeled=ctx.labeled,
        candidates=ctx.candidates,
        n_clusters=_n_clusters(ctx, params, b),
        random_state=rng,
    )
    return Selection("kmeans_equal", idx, ctx.candidates, note="nearest its cluster's centre")


def _kmeans_proportional(ctx, b, rng, params):
    name, s = _uncertainty(ctx, params)
    idx = kmeans_proportional(
        s,
        ctx.X,
        batch_size=b,
        candidates=ctx.candidates,
        n_clusters=_n_clusters(ctx, params, b),
        random_state=rng,
    )
    return Selection("kmeans_proportional", idx, ctx.candidates, {name: s})


def _iterative_proximity(ctx, b, rng, params):
    name, s = _uncertainty(ctx, params)
    idx = iterative_proximity(s, ctx.X, batch_size=b, candidates=ctx.candidates, random_state=rng)
    return Selection("iterative_proximity", idx, ctx.candidates, {name: s})


def _criteria(ctx, params, rng, default: tuple[str, ...]) -> dict[str, np.ndarray]:
    wanted = params.get("criteria") or default
    out = {}
    for c in wanted:
        if c in UNCERTAINTY_SCORERS:
            out[c] = _uncertainty(ctx, {"uncertainty": c})[1]
        elif c == "novelty":
            out[c] = novelty(ctx.X, labeled=ctx.labeled, candidates=ctx.candidates)
        elif c == "diversity":
            out[c] = representativeness(
                ctx.X,
                candidates=ctx.candidates,
                n_clusters=max(_n_clusters(ctx, params, 10), 2),
                random_state=rng,
            )
        elif c in (params.get("metadata") or {}):
            out[c] = np.asarray(params["metadata"][c], dtype=np.float64)[ctx.candidates]
        else:
            known = _known_criteria(params)
            raise UnknownNameError(
                f"unknown criterion {shorten(c)}; choose from {known}." + did_you_mean(c, known)
            )
    return out


def _weighted(ctx, b, rng, params):
    strengths = dict(params.get("strengths") or {"margin": 1.0, "novelty": 0.5})
    if ctx.cost is not None:  # cheaper is better: cost enters with a negative strength
        strengths.setdefault("cost", -float(params.get("cost_lambda", 1.0)))
    names = tuple(k for k in strengths if k != "cost" or ctx.cost is None)
    crit = _criteria(ctx, {**params, "criteria": names}, rng, ())
    if ctx.cost is not None:
        crit["cost"] = ctx.cost
    idx = weighted(
        crit, strengths=strengths, batch_size=b, candidates=ctx.candidates, random_state=rng
    )
    return Selection("weighted", idx, ctx.candidates, crit)


def _intersection(ctx, b, rng, params):
    crit = _criteria(ctx, params, rng, ("margin", "diversity", "novelty"))
    idx = intersection(crit, batch_size=b, candidates=ctx.candidates, random_state=rng)
    return Selection("intersection", idx, ctx.candidates, crit)


def _class_balance(ctx, b, rng, params):
    name, s = _uncertainty(ctx, params)
    predicted = ctx.proba.argmax(axis=1)
    idx = class_balance(
        s,
        predicted,
        batch_size=b,
        candidates=ctx.candidates,
        target=params.get("target"),
        random_state=rng,
    )
    return Selection("class_balance", idx, ctx.candidates, {name: s})


def _expected_error_reduction(ctx, b, rng, params):
    n_cand = max(int(params.get("n_candidates", 200)), b)
    idx, s = expected_error_reduction(
        ctx.model,
        ctx.X[ctx.labeled],
        ctx.y_labeled,
        ctx.X[ctx.candidates],
        proba=ctx.proba,
        loss=params.get("loss", "log"),
        n_candidates=n_cand,
        n_eval=int(params.get("n_eval", 2000)),
        prefilter=params.get("prefilter", "margin"),
        refit=params.get("refit", "auto"),
        random_state=rng,
    )
    # candidates the pre-filter left out were not simulated: they rank with the worst
    full = np.full(ctx.candidates.size, float(np.min(s)) if s.size else 0.0)
    full[idx] = s
    chosen = idx[top_positions(s, b, rng)]
    note = f"simulated the top {idx.size} by margin" if idx.size < ctx.candidates.size else ""
    return Selection(
        "expected_error_reduction",
        ctx.candidates[chosen],
        ctx.candidates,
        {"expected_error_reduction": full},
        note=note,
    )


def _ranked_batch(ctx, b, rng, params):
    name, s = _uncertainty(ctx, params)
    idx = ranked_batch(
        s, ctx.X, labeled=ctx.labeled, batch_size=b, candidates=ctx.candidates, random_state=rng
    )
    return Selection("ranked_batch", idx, ctx.candidates, {name: s})


def _auto(ctx, b, rng, params):
    kw = {k: params[k] for k in ("early_per_class", "badge_from") if k in params}
    own = model_method(ctx.model, "gradient_embedding")  # a network's own, as for badge
    if own is not None:
        kw["embedding"] = np.asarray(own(ctx.X[ctx.candidates]))
    s = U.margin(ctx.proba)
    criteria = {"margin": s}
    if ctx.cost is not None:  # like every top-k strategy: margin / cost**cost_lambda
        ranked = cost_adjusted(s, ctx.cost, float(params.get("cost_lambda", 1.0)))
        criteria = {"margin": s, "cost": ctx.cost, "margin_per_cost": ranked}
        kw["scores"] = ranked
    idx, parts = auto(
        ctx.proba,
        ctx.X,
        batch_size=b,
        labeled=ctx.labeled,
        candidates=ctx.candidates,
        n_classes=ctx.n_classes,
        random_state=rng,
        **kw,
    )
    notes = [AUTO_PARTS[p] for p in parts]
    return Selection("auto", idx, ctx.candidates, criteria, pick_notes=notes)


def _badge(ctx, b, rng, params):
    # a network gives its own last-layer gradients (penultimate features); a linear
    # model's last layer sees the features themselves
    own = model_method(ctx.model, "gradient_embedding")
    Xc = ctx.X[ctx.candidates]
    emb = gradient_embedding(ctx.proba, Xc) if own is None else np.asarray(own(Xc))
    pos = badge(emb, batch_size=b, random_state=rng)
    norm = np.linalg.norm(emb, axis=1)
    return Selection("badge", ctx.candidates[pos], ctx.candidates, {"gradient_norm": norm})


def _egl(ctx, rng):
    """Autograd EGL of a network (``model.expected_gradient_length``), else the linear form."""
    own = model_method(ctx.model, "expected_gradient_length")
    if own is not None:
        return np.asarray(own(ctx.X[ctx.candidates]), dtype=np.float64)
    return expected_gradient_length(ctx.proba, ctx.X[ctx.candidates])


#: Pools with more rows than this use TypiClust's clusters for ``typicality`` by default.
TYPICALITY_EXACT_MAX_ROWS = 20_000
_TYPICALITY_METHODS = ("auto", "cluster", "exact")


def _typicality(ctx, b, rng, params):
    """``method="cluster"`` (default over 20,000 rows): TypiClust; ``"exact"``: global top-k."""
    method = params.get("method", "auto")
    if method not in _TYPICALITY_METHODS:
        raise InvalidInputError(
            f"typicality: method must be one of {list(_TYPICALITY_METHODS)}, got "
            f"{shorten(method)}." + did_you_mean(str(method), _TYPICALITY_METHODS)
        )
    k = params.get("k", 20)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"typicality: k must be a positive integer, got {shorten(k)}.")
    if method == "cluster" and ctx.cost is not None:
        raise InvalidInputError(
            "typicality: method='cluster' does not use a per-sample cost; use method='exact' "
            "(global typicality / cost**cost_lambda) or drop the cost."
        )
    if method == "auto":  # a cost ranks globally: typicality / cost**cost_lambda
        big = ctx.X.shape[0] > TYPICALITY_EXACT_MAX_ROWS
        method = "cluster" if big and ctx.cost is None else "exact"
    if method == "exact":
        score = lambda c, r: typicality(c.X, k=int(k), candidates=c.candidates)  # noqa: E731
        return _top_k_query("typicality", score)(ctx, b, rng, params)
    picks, cl, size, typ, assign = typiclust(
        ctx.X,
        labeled=ctx.labeled,
        candidates=ctx.candidates,
        batch_size=b,
        k=int(k),
        random_state=rng,
    )
    sizes = np.bincount(assign)
    notes = [
        f"cluster {c} (size {s}): most typical"
        for c, s in zip(cl.tolist(), size.tolist(), strict=True)
    ]
    return Selection(
        "typicality",
        picks,
        ctx.candidates,
        {"cluster_size": sizes[assign[ctx.candidates]].astype(np.float64)},
        at_pick={"typicality_in_cluster": typ},
        pick_notes=notes,
    )


def _density_query(name: str, fn):
    """A density scorer over the pool, scored on the candidates, top-k selected."""
    return _top_k_query(name, lambda c, r: fn(c.X, candidates=c.candidates))


def _build() -> dict[str, Strategy]:
    reg: dict[str, Strategy] = {}

    def add(name, needs, summary, fn, task="classification", params=()):
        top_k_based = fn.__name__ == "query" or name in ("weighted", "auto", "typicality")
        # a top-k strategy ranks by score / cost**cost_lambda when given a cost
        names = frozenset(params) | ({"cost_lambda"} if top_k_based else set())
        reg[name] = Strategy(name, frozenset(needs), summary, fn, {}, task, top_k_based, names)

    add(
        "auto",
        {"proba", "X", "labeled"},
        "default: margin; cluster-margin (uncertain and diverse) for batches of 50 or more",
        _auto,
        params=("early_per_class", "badge_from"),
    )
    lines = {
        "least_confidence": "1 - p1: the model's top class is least probable",
        "margin": "1 - (p1 - p2): the two likeliest classes are closest",
        "ratio": "p2 / p1: second class almost as likely as the first",
        "entropy": "-sum p log p: the whole predicted distribution is spread out",
        "variance": "1 - var(p)/var_onehot: the probability vector has little spread",
    }
    for name, fn in UNCERTAINTY_SCORERS.items():
        add(name, {"proba"}, lines[name], _top_k_query(name, lambda c, r, f=fn: f(c.proba)))
    add(
        "expected_gradient_length",
        {"proba", "X"},
        "sum_y p(y|x) ||loss gradient||: the label that would change a linear model most",
        _top_k_query(
            "expected_gradient_length",
            _egl,
        ),
    )
    add(
        "expected_error_reduction",
        {"model", "labeled", "proba", "X"},
        "refit per candidate and label: largest expected drop of the future log loss",
        _expected_error_reduction,
        params=("n_candidates", "loss", "n_eval", "prefilter", "refit"),
    )
    add(
        "information_density",
        {"proba", "X"},
        "entropy x (mean similarity to its k nearest neighbours)^beta: uncertain and typical",
        _top_k_query(
            "information_density",
            lambda c, r: information_density(c.proba, c.X, candidates=c.candidates),
        ),
    )
    add(
        "typicality",
        {"X", "labeled"},
        "most typical row (1 / mean kNN distance) of each uncovered k-means cluster "
        "(TypiClust); method='exact': global top-k",
        _typicality,
        task="any",
        params=("method", "k"),
    )
    add(
        "knn_density",
        {"X"},
        "mean similarity 1/(1+d) to the k nearest neighbours",
        _density_query("knn_density", knn_density),
        task="any",
    )
    add(
        "kde_density",
        {"X"},
        "Gaussian kernel density from the k nearest neighbours",
        _density_query("kde_density", kde_density),
        task="any",
    )
    add(
        "cluster_density",
        {"X"},
        "k-means: cluster's share of the pool x closeness to its centre",
        _top_k_query(
            "cluster_density",
            lambda c, r: cluster_density(
                c.X, candidates=c.candidates, n_clusters=c.n_classes or 10, random_state=r
            ),
        ),
        task="any",
    )
    add(
        "ranked_batch",
        {"X", "labeled", "proba"},
        "uncertainty vs distance to labeled + chosen, weighted by the unlabeled share",
        _ranked_batch,
        params=("uncertainty",),
    )
    add("badge", {"X", "proba"}, "k-means++ seeding on gradient embeddings (BADGE)", _badge)
    add(
        "random",
        set(),
        "uniform random picks: the baseline every report compares with",
        _top_k_query("random", lambda c, r: r.random(c.candidates.size)),
        task="any",
    )
    committee_lines = {
        "vote_entropy": "entropy of the committee's hard votes",
        "consensus_entropy": "entropy of the committee's mean probabilities",
        "kl_divergence": "mean KL divergence of members from the consensus",
        "max_disagreement": "largest KL divergence of a member from the consensus",
        "bald": "mutual information: entropy of the mean - mean member entropy",
        "variation_ratio": "1 - share of members voting the modal class",
    }
    for name, fn in COMMITTEE_SCORERS.items():
        add(
            name,
            {"committee"},
            committee_lines[name],
            _top_k_query(name, lambda c, r, f=fn: f(c.probas)),
        )
    add(
        "committee_std",
        {"regression_committee"},
        "std of the regression committee's predictions",
        _top_k_query("committee_std", lambda c, r: C.committee_std(c.predictions)),
        task="regression",
    )
    add(
        "predictive_std",
        {"std"},
        "the model's predictive std (Gaussian process): where it knows least",
        _top_k_query("predictive_std", lambda c, r: np.asarray(c.std, dtype=np.float64)),
        task="regression",
    )
    for agg in ("mean", "max"):
        add(
            f"multilabel_{agg}",
            {"proba"},
            f"{agg} over labels of each label's binary entropy (multi-label)",
            _top_k_query(
                f"multilabel_{agg}",
                lambda c, r, a=agg: multilabel_uncertainty(c.proba, aggregate=a),
            ),
            task="multilabel",
        )
    add(
        "novelty",
        {"X", "labeled"},
        "distance to the nearest labeled sample",
        _top_k_query(
            "novelty", lambda c, r: novelty(c.X, labeled=c.labeled, candidates=c.candidates)
        ),
        task="any",
    )
    add(
        "k_center_greedy",
        {"X", "labeled"},
        "core-set: repeatedly the point farthest from labeled + chosen (no model needed)",
        _k_center_greedy,
        task="any",
    )
    add(
        "kmeans_equal",
        {"X", "labeled"},
        "k-means (K = classes), the same number per cluster, nearest the centre first",
        _kmeans_equal,
        task="any",
        params=("n_clusters",),
    )
    add(
        "kmeans_proportional",
        {"X", "proba"},
        "k-means on candidates, picks per cluster by size, most uncertain first",
        _kmeans_proportional,
        params=("uncertainty", "n_clusters"),
    )
    add(
        "iterative_proximity",
        {"X", "proba"},
        "uncertainty plus a [-0.3, 0.3] bonus for distance from the batch so far",
        _iterative_proximity,
        params=("uncertainty",),
    )
    add(
        "weighted",
        {"X", "labeled", "proba"},
        "rank-normalised criteria with strengths (default margin 1.0, novelty 0.5)",
        _weighted,
        params=("strengths", "metadata", "n_clusters"),
    )
    add(
        "intersection",
        {"X", "labeled", "proba"},
        "in the top set of margin, diversity and novelty at once, widened until full",
        _intersection,
        params=("criteria", "metadata", "n_clusters"),
    )
    add(
        "class_balance",
        {"proba"},
        "equal share per predicted class (or given ratios), most uncertain first",
        _class_balance,
        params=("uncertainty", "target"),
    )
    for name, (needs, summary) in D.SUMMARIES.items():  # over a detector's predictions
        task = "segmentation" if needs == "masks" else "detection"
        params = D.PARAM_NAMES | ({"band"} if name == "segmentation_boundary" else set())
        reg[name] = Strategy(
            name, frozenset({needs}), summary, _detection(name), {}, task, True, frozenset(params)
        )
    return reg


def _detection(name: str):
    def query(ctx, b, rng, params):
        r = D.detection_query(name, ctx, b, rng, params)
        return Selection(
            name,
            r.indices,
            r.candidates,
            r.criteria,
            r.at_pick,
            note=r.note,
            pick_notes=r.pick_notes,
            skipped=r.skipped,
        )

    return query


STRATEGIES: dict[str, Strategy] = _build()

#: What only a fitted model can provide; a strategy needing any of it cold-starts without one.
MODEL_NEEDS = frozenset({"proba", "committee", "regression_committee", "std", "model"})

#: Strategies that work before any model exists (features only).
COLD_START = ("k_center_greedy", "kmeans_equal", "random", "novelty")


def strategy_names(task: str | None = None) -> list[str]:
    """Registered strategy names, optionally only those usable for one task.

    A strategy's ``task`` is ``classification``, ``regression``, ``multilabel`` or
    ``any`` (it needs no model output: random, novelty, k_center_greedy, kmeans_equal).
    """
    return [n for n, s in STRATEGIES.items() if task is None or s.task in (task, "any")]


def get_strategy(name: str, **params) -> Strategy:
    """Look up a strategy by its registered name, optionally with parameters.

    Examples
    --------
    >>> get_strategy("margin").needs
    frozenset({'proba'})
    """
    if name not in STRATEGIES:
        raise UnknownNameError(
            f"unknown strategy {shorten(name)}; run 'labelwise strategies' for the list."
            + did_you_mean(str(name), STRATEGIES)
        )
    s = STRATEGIES[name]
    return s.with_params(**params) if params else s
