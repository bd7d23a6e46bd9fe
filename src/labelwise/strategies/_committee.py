"""Committee and Bayesian scorers over the predictions of several models.

``probas`` has shape ``(n_members, n_samples, n_classes)``: a bagged ensemble,
independently trained models, or T stochastic forward passes (MC dropout).
Higher score = the members disagree more = label this sample first.
"""

from __future__ import annotations

import numpy as np

from labelwise._validation import check_probas
from labelwise.errors import InvalidInputError
from labelwise.strategies._uncertainty import _entropy_rows

__all__ = [
    "vote_entropy",
    "consensus_entropy",
    "kl_divergence",
    "max_disagreement",
    "bald",
    "variation_ratio",
    "committee_std",
]


def _vote_fractions(p: np.ndarray) -> np.ndarray:
    """Fraction of members voting for each class, shape (n_samples, n_classes)."""
    n_members, n_samples, n_classes = p.shape
    votes = p.argmax(axis=2)  # (n_members, n_samples)
    counts = np.zeros((n_samples, n_classes))
    rows = np.broadcast_to(np.arange(n_samples), votes.shape)
    np.add.at(counts, (rows.ravel(), votes.ravel()), 1.0)
    return counts / n_members


def _member_kl(p: np.ndarray) -> np.ndarray:
    """KL(member || consensus) for each member and sample, shape (n_members, n_samples)."""
    consensus = p.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(np.where(p > 0, p, 1.0)) - np.log(
            np.where(consensus > 0, consensus, 1.0)
        )
        terms = np.where(p > 0, p * log_ratio, 0.0)
    return np.maximum(terms.sum(axis=2), 0.0)


def vote_entropy(probas, *, normalize: bool = False) -> np.ndarray:
    """Entropy of the members' hard-vote distribution.

    Parameters
    ----------
    probas : array-like of shape (n_members, n_samples, n_classes)
        Class probabilities of every committee member.
    normalize : bool, default=False
        Divide by ``log C``.

    Returns
    -------
    scores : ndarray of shape (n_samples,)

    References
    ----------
    Dagan, I. and Engelson, S. (1995). Committee-based sampling for training
    probabilistic classifiers. ICML.

    Examples
    --------
    >>> probas = [[[0.9, 0.1]], [[0.2, 0.8]]]   # two members disagree on one sample
    >>> vote_entropy(probas).round(4)
    array([0.6931])
    """
    p = check_probas(probas)
    s = _entropy_rows(_vote_fractions(p))
    return s / np.log(p.shape[2]) if normalize else s


def consensus_entropy(probas, *, normalize: bool = False) -> np.ndarray:
    """Entropy of the committee's mean (consensus) probabilities.

    Parameters
    ----------
    probas : array-like of shape (n_members, n_samples, n_classes)
    normalize : bool, default=False
        Divide by ``log C``.

    Returns
    -------
    scores : ndarray of shape (n_samples,)

    References
    ----------
    Settles, B. (2009). Active Learning Literature Survey, §3.2.

    Examples
    --------
    >>> consensus_entropy([[[0.9, 0.1]], [[0.1, 0.9]]]).round(4)
    array([0.6931])
    """
    p = check_probas(probas)
    s = np.maximum(_entropy_rows(p.mean(axis=0)), 0.0)
    return s / np.log(p.shape[2]) if normalize else s


def kl_divergence(probas) -> np.ndarray:
    """Mean Kullback-Leibler divergence of each member from the consensus.

    Parameters
    ----------
    probas : array-like of shape (n_members, n_samples, n_classes)

    Returns
    -------
    scores : ndarray of shape (n_samples,)

    References
    ----------
    McCallum, A. and Nigam, K. (1998). Employing EM and pool-based active learning
    for text classification. ICML.

    Examples
    --------
    >>> kl_divergence([[[0.5, 0.5]], [[0.5, 0.5]]])
    array([0.])
    """
    return _member_kl(check_probas(probas)).mean(axis=0)


def max_disagreement(probas) -> np.ndarray:
    """Largest Kullback-Leibler divergence of any member from the consensus.

    Parameters
    ----------
    probas : array-like of shape (n_members, n_samples, n_classes)

    Returns
    -------
    scores : ndarray of shape (n_samples,)

    References
    ----------
    modAL documentation, "Disagreement sampling: max disagreement".

    Examples
    --------
    >>> max_disagreement([[[1.0, 0.0]], [[0.5, 0.5]]]).round(4)
    array([0.2877])
    """
    return _member_kl(check_probas(probas)).max(axis=0)


def bald(probas) -> np.ndarray:
    """BALD mutual information: entropy of the mean minus the mean member entropy.

    Parameters
    ----------
    probas : array-like of shape (n_members, n_samples, n_classes)
        Members or T stochastic passes (MC dropout).

    Returns
    -------
    scores : ndarray of shape (n_samples,)

    References
    ----------
    Houlsby, N. et al. (2011). Bayesian active learning for classification and
    preference learning. arXiv:1112.5745.
    Gal, Y., Islam, R. and Ghahramani, Z. (2017). Deep Bayesian active learning
    with image data. ICML.

    Examples
    --------
    >>> bald([[[1.0, 0.0]], [[0.0, 1.0]]]).round(4)   # confident, opposite members
    array([0.6931])
    """
    p = check_probas(probas)
    s = _entropy_rows(p.mean(axis=0)) - _entropy_rows(p, axis=2).mean(axis=0)
    return np.maximum(s, 0.0)


def variation_ratio(probas) -> np.ndarray:
    """Variation ratio ``1 - f_mode / n_members`` of the members' hard votes.

    Parameters
    ----------
    probas : array-like of shape (n_members, n_samples, n_classes)

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        0 when every member votes the same class.

    References
    ----------
    Freeman, L. C. (1965). Elementary Applied Statistics. Wiley.
    Gal, Y., Islam, R. and Ghahramani, Z. (2017). Deep Bayesian active learning
    with image data. ICML.

    Examples
    --------
    >>> variation_ratio([[[0.9, 0.1]], [[0.8, 0.2]], [[0.3, 0.7]]]).round(4)
    array([0.3333])
    """
    p = check_probas(probas)
    return 1.0 - _vote_fractions(p).max(axis=1)


def committee_std(predictions) -> np.ndarray:
    """Standard deviation of the members' regression predictions.

    Parameters
    ----------
    predictions : array-like of shape (n_members, n_samples)

    Returns
    -------
    scores : ndarray of shape (n_samples,)

    References
    ----------
    Burbidge, R., Rowland, J. J. and King, R. D. (2007). Active learning for
    regression based on query by committee. IDEAL.

    Examples
    --------
    >>> committee_std([[1.0, 2.0], [3.0, 2.0]])
    array([1., 0.])
    """
    y = np.asarray(predictions, dtype=np.float64)
    if y.ndim != 2:
        raise InvalidInputError(
            f"predictions must have shape (n_members, n_samples), got shape {y.shape}."
        )
    if not np.isfinite(y).all():
        raise InvalidInputError("predictions contain NaN or inf values.")
    return y.std(axis=0)
