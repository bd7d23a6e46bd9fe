"""Suspected wrong labels: out-of-fold predictions that contradict the given label."""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from labelwise._validation import check_X
from labelwise.errors import InvalidInputError, MissingRequirementError
from labelwise.quality._records import check_classes, check_int

__all__ = ["find_label_issues"]


def _default_model():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def find_label_issues(
    X, labels, classes, *, model=None, cv: int = 5, random_state=0
) -> pd.DataFrame:
    """Find labels that a model trained on the other folds contradicts (confident learning).

    Out-of-fold probabilities come from ``cross_val_predict(method="predict_proba")``
    with stratified, shuffled folds; cleanlab's ``find_label_issues`` (prune by noise
    rate) then flags the samples whose given label is likely wrong.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features (finite).
    labels : sequence of length n_samples
        The given label of each sample; each one of ``classes``.
    classes : sequence of str
        Class names. Classes that no sample has are ignored.
    model : sklearn classifier with ``predict_proba``, optional
        Cloned for every fold. Default: ``StandardScaler`` then
        ``LogisticRegression(max_iter=1000)``.
    cv : int, default=5
        Number of folds. If the rarest class has fewer labels than ``cv``, the folds are
        lowered to that count (at least 2) with a ``UserWarning``.
    random_state : int, RandomState instance or None, default=0
        Seeds the fold shuffle.

    Returns
    -------
    issues : pandas.DataFrame
        Flagged samples only, worst first (lowest ``quality``), with columns ``index``
        (position in ``X``), ``given`` (label), ``suggested`` (the class the model finds
        most likely), ``confidence`` (its out-of-fold probability) and ``quality``
        (cleanlab self-confidence score of the given label: its out-of-fold probability).

    Raises
    ------
    InvalidInputError
        If fewer than 2 classes have labels, a label is not in ``classes``, or ``labels``
        and ``X`` differ in length.
    MissingRequirementError
        If ``model`` has no ``predict_proba``.

    References
    ----------
    Northcutt, C. G., Jiang, L. and Chuang, I. L. (2021). Confident learning: Estimating
    uncertainty in dataset labels. Journal of Artificial Intelligence Research, 70,
    1373-1411.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> X = np.r_[rng.normal(0, 1, (50, 2)), rng.normal(3, 1, (50, 2))]
    >>> labels = ["a"] * 50 + ["b"] * 50
    >>> labels[3], labels[60] = "b", "a"  # two wrong labels
    >>> find_label_issues(X, labels, ["a", "b"])[["index", "given", "suggested"]]
       index given suggested
    0     60     a         b
    1      3     b         a
    """
    from cleanlab.filter import find_label_issues as cl_find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    X = check_X(X)
    classes = check_classes(classes)
    cv = check_int(cv, "cv", minimum=2)
    if isinstance(labels, str) or np.ndim(labels) != 1:
        raise InvalidInputError("labels must be a 1-D sequence with one label per row of X.")
    given = pd.Series(list(labels), dtype=object)
    if len(given) != len(X):
        raise InvalidInputError(
            f"labels has {len(given)} entries but X has {len(X)} rows; they must be aligned."
        )
    if given.isna().any():
        raise InvalidInputError(
            f"labels has a missing label at position {int(np.flatnonzero(given.isna())[0])}."
        )
    given = given.astype(str)
    unknown = ~given.isin(classes)
    if unknown.any():
        raise InvalidInputError(
            f"labels has {given[unknown].iloc[0]!r}, which is not in classes {classes}."
        )
    present = [c for c in classes if c in set(given)]
    if len(present) < 2:
        raise InvalidInputError(
            "find_label_issues needs labels from at least 2 classes; every label is "
            f"{present[0] if present else None!r}."
        )
    y = given.map({c: i for i, c in enumerate(present)}).to_numpy(dtype=np.intp)

    counts = np.bincount(y, minlength=len(present))
    smallest = int(counts.min())
    if smallest < cv:
        rare = present[int(counts.argmin())]
        new_cv = max(smallest, 2)
        warnings.warn(
            f"class {rare!r} has only {smallest} label(s), fewer than cv={cv} folds; "
            f"using cv={new_cv}.",
            UserWarning,
            stacklevel=2,
        )
        cv = new_cv

    estimator = _default_model() if model is None else clone(model)
    if not hasattr(estimator, "predict_proba"):
        raise MissingRequirementError(
            f"model {type(model).__name__} has no predict_proba; pass a probabilistic "
            "classifier (for SVC, use probability=True)."
        )
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    # The default model makes many small matrix products: one BLAS thread is 10-20x faster
    # on a busy machine (threads spin against each other). A user's model keeps its threads.
    limit = threadpool_limits(limits=1, user_api="blas") if model is None else nullcontext()
    with limit, warnings.catch_warnings():
        # A class with a single label cannot be in every training fold; sklearn warns and
        # gives it probability 0 there, which is exactly what flags that label.
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        warnings.filterwarnings("ignore", message=".*Number of classes in training fold.*")
        proba = cross_val_predict(estimator, X, y, cv=folds, method="predict_proba")

    ranked = cl_find_label_issues(y, proba, return_indices_ranked_by="self_confidence")
    ranked = np.asarray(ranked, dtype=np.intp)
    quality = get_label_quality_scores(y, proba, method="self_confidence")
    suggested = proba.argmax(axis=1)
    return pd.DataFrame(
        {
            "index": ranked.astype(np.int64),
            "given": [present[i] for i in y[ranked]],
            "suggested": [present[i] for i in suggested[ranked]],
            "confidence": proba[ranked, suggested[ranked]].astype(np.float64),
            "quality": quality[ranked].astype(np.float64),
        }
    )
