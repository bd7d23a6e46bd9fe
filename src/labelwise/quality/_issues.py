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

__all__ = ["find_label_issues", "issues_from_proba", "out_of_fold_proba"]


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
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from labelwise.models import clone_model

    X, y, present = _encode(X, labels, classes)
    cv = _fold_count(y, present, check_int(cv, "cv", minimum=2))

    estimator = _default_model() if model is None else clone_model(model)
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
        if hasattr(estimator, "get_params"):
            proba = cross_val_predict(estimator, X, y, cv=folds, method="predict_proba")
        else:  # a duck-typed model (fit + predict_proba): sklearn cannot clone it
            proba = _duck_oof(estimator, X, y, folds)

    return _rank(y, proba, present)


def _duck_oof(estimator, X, y, folds) -> np.ndarray:
    """cross_val_predict's probabilities for a model sklearn cannot clone (clone_model copies)."""
    from labelwise.models import clone_model

    k = int(y.max()) + 1
    proba = np.zeros((y.shape[0], k))
    for train, test in folds.split(X, y):
        fitted = clone_model(estimator)
        fitted.fit(X[train], y[train])
        seen = getattr(fitted, "classes_", None)
        cols = np.unique(y[train]) if seen is None else np.asarray(seen, dtype=np.intp)
        proba[np.ix_(test, cols)] = fitted.predict_proba(X[test])
    return proba


def out_of_fold_proba(X, labels, classes, *, model, cv: int = 5, random_state=0) -> np.ndarray:
    """Each row's class probabilities from a copy of ``model`` fit on the other folds.

    The folds are stratified and shuffled; every fold fits a fresh clone, wrapped as
    :class:`labelwise.models.Classifier` (so a model without ``predict_proba``, such
    as ``SVC``, gives probabilities from its decision function, exactly as the
    project's model does when it suggests a label).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    labels : sequence of length n_samples
        The given label of each sample; each one of ``classes``.
    classes : sequence of str
        Class names: the columns of the result, in this order.
    model : sklearn classifier or labelwise ``Classifier``
        Never modified: its estimator is cloned for every fold.
    cv : int, default=5
        Number of folds, lowered (to at least 2, with a ``UserWarning``) when the
        rarest labeled class has fewer labels.
    random_state : int, default=0
        Seeds the fold shuffle.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_classes)
        Rows sum to 1; a class missing from a fold's training part gets 0 there.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.r_[np.zeros((4, 1)), np.ones((4, 1))]
    >>> labels = ["a"] * 4 + ["b"] * 4
    >>> p = out_of_fold_proba(X, labels, ["a", "b"], model=LogisticRegression(), cv=2)
    >>> p.shape, bool((p.argmax(axis=1) == [0] * 4 + [1] * 4).all())
    ((8, 2), True)
    """
    from sklearn.model_selection import StratifiedKFold

    from labelwise.models import make_model

    X, y, present = _encode(X, labels, classes)
    cv = _fold_count(y, present, check_int(cv, "cv", minimum=2))
    names = check_classes(classes)
    estimator = getattr(model, "estimator", model)  # a labelwise Classifier or sklearn
    proba = np.zeros((len(y), len(names)))
    cols = [names.index(c) for c in present]
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        for train, test in folds.split(X, y):
            fitted = make_model(estimator, classes=np.arange(len(present))).fit(X[train], y[train])
            proba[np.ix_(test, cols)] = fitted.predict_proba(X[test])
    return proba


def issues_from_proba(labels, proba, classes) -> pd.DataFrame:
    """:func:`find_label_issues` for probabilities already computed (out of fold).

    Parameters
    ----------
    labels : sequence of length n_samples
        The given labels; each one of ``classes``.
    proba : array-like of shape (n_samples, n_classes)
        Out-of-fold probabilities, columns in the order of ``classes``; rows sum to 1.
        Columns of classes that no label has are dropped and the rows renormalised
        (cleanlab counts only the classes that occur).
    classes : sequence of str

    Returns
    -------
    issues : pandas.DataFrame
        As :func:`find_label_issues`: ``index``, ``given``, ``suggested``,
        ``confidence`` (``proba`` of the suggested class) and ``quality`` (``proba``
        of the given class), worst first.

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1]] * 5 + [[0.1, 0.9]] * 5)
    >>> labels = ["a"] * 4 + ["b"] + ["b"] * 5  # row 4 is labeled b; the model says a
    >>> issues_from_proba(labels, proba, ["a", "b"])[["index", "given", "suggested"]]
       index given suggested
    0      4     b         a
    """
    names = check_classes(classes)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(names):
        raise InvalidInputError(
            f"proba must have one column per class ({len(names)}), got shape {proba.shape}."
        )
    if not np.isfinite(proba).all() or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-6):
        raise InvalidInputError("proba must be finite with rows that sum to 1.")
    _, y, present = _encode(np.zeros((len(proba), 1)), labels, names)
    kept = proba[:, [names.index(c) for c in present]]
    kept = kept / np.maximum(kept.sum(axis=1, keepdims=True), np.finfo(float).tiny)
    return _rank(y, kept, present)


def _encode(X, labels, classes):
    """Checked ``X``, labels as indices into the classes that have labels, those classes."""
    X = check_X(X)
    classes = check_classes(classes)
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
    return X, y, present


def _fold_count(y, present, cv: int) -> int:
    counts = np.bincount(y, minlength=len(present))
    smallest = int(counts.min())
    if smallest < cv:
        rare = present[int(counts.argmin())]
        new_cv = max(smallest, 2)
        warnings.warn(
            f"class {rare!r} has only {smallest} label(s), fewer than cv={cv} folds; "
            f"using cv={new_cv}.",
            UserWarning,
            stacklevel=3,
        )
        cv = new_cv
    return cv


def _rank(y, proba, present) -> pd.DataFrame:
    """The issues cleanlab finds (prune by noise rate), worst self-confidence first."""
    from cleanlab.filter import find_label_issues as cl_find_label_issues
    from cleanlab.rank import get_label_quality_scores

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
