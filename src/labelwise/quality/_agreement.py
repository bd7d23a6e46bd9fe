"""Inter-annotator agreement: Cohen's kappa for pairs, Fleiss' kappa for many raters."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelwise.errors import InvalidInputError
from labelwise.quality._records import check_int, check_records, latest_votes

__all__ = ["cohen_kappa", "pairwise_kappa", "fleiss_kappa"]

# Chance agreement this close to 1 means both raters used one and the same category.
_PE_ONE = 1.0 - 1e-12


def _kappa(po: float, pe: float) -> float:
    """``(po - pe) / (1 - pe)``, with perfect chance agreement defined as kappa = 1."""
    if pe >= _PE_ONE:  # only possible when every rating is the same category: po = 1
        return 1.0
    return float((po - pe) / (1.0 - pe))


def _cohen_codes(x: np.ndarray, y: np.ndarray, n_categories: int) -> float:
    n = len(x)
    po = float(np.mean(x == y))
    pe = float(np.bincount(x, minlength=n_categories) @ np.bincount(y, minlength=n_categories))
    return _kappa(po, pe / (n * n))


def _as_labels(a, name: str) -> pd.Series:
    if isinstance(a, str) or np.ndim(a) != 1:
        raise InvalidInputError(
            f"{name} must be a 1-D sequence of labels; got {type(a).__name__} "
            f"of shape {np.shape(a)}."
        )
    s = pd.Series(list(a), dtype=object)
    null = s.isna().to_numpy()
    if null.any():
        raise InvalidInputError(
            f"{name} has a missing label at position {np.flatnonzero(null)[0]}."
        )
    return s


def cohen_kappa(a, b) -> float:
    """Cohen's kappa between two raters who labelled the same items.

    ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o`` the observed agreement and
    ``p_e = sum_k p_a(k) p_b(k)`` the agreement expected by chance from each rater's
    own label frequencies.

    Parameters
    ----------
    a, b : sequence of length n_items
        The two raters' labels, item by item (any hashable values, compared with ``==``).

    Returns
    -------
    kappa : float
        In ``[-1, 1]``; 1 = perfect agreement, 0 = agreement at chance level. Never NaN:
        when both raters give one and the same label to every item, ``p_e = 1`` and the
        formula is 0/0; we return 1.0 (they agree on everything). When both are constant
        but different, ``p_o = p_e = 0`` and kappa is 0.0.

    Raises
    ------
    InvalidInputError
        If the sequences are empty, of different lengths, not 1-D, or contain a missing value.

    References
    ----------
    Cohen, J. (1960). A coefficient of agreement for nominal scales.
    Educational and Psychological Measurement, 20(1), 37-46.

    Examples
    --------
    >>> round(cohen_kappa(["cat", "cat", "dog", "dog"], ["cat", "dog", "dog", "dog"]), 4)
    0.5
    >>> cohen_kappa(["cat", "cat"], ["cat", "cat"])
    1.0
    """
    sa, sb = _as_labels(a, "a"), _as_labels(b, "b")
    if len(sa) != len(sb):
        raise InvalidInputError(
            f"a and b must have the same length (one label per item); got {len(sa)} and {len(sb)}."
        )
    if len(sa) == 0:
        raise InvalidInputError("cohen_kappa needs at least one item; a and b are empty.")
    codes, uniques = pd.factorize(pd.concat([sa, sb], ignore_index=True))
    n = len(sa)
    return _cohen_codes(codes[:n], codes[n:], len(uniques))


def pairwise_kappa(records, *, min_overlap: int = 5) -> list[dict]:
    """Cohen's kappa for every pair of annotators who labelled enough samples in common.

    Gold rows are left out; when an annotator labelled a sample more than once, their
    latest label counts.

    Parameters
    ----------
    records : pandas.DataFrame
        One row per label, with columns ``sample``, ``annotator``, ``value`` and ``gold``
        (``created_at``, when present, orders repeated labels; else row order does).
    min_overlap : int, default=5
        Pairs sharing fewer non-gold samples than this are left out.

    Returns
    -------
    pairs : list of dict
        ``{"a": str, "b": str, "n": int, "kappa": float}`` with ``a < b``, sorted by
        ``(a, b)``; ``n`` is the number of shared samples. See :func:`cohen_kappa`.

    References
    ----------
    Cohen, J. (1960). A coefficient of agreement for nominal scales.
    Educational and Psychological Measurement, 20(1), 37-46.

    Examples
    --------
    >>> import pandas as pd
    >>> records = pd.DataFrame({
    ...     "sample": ["s1", "s2", "s3", "s4"] * 2,
    ...     "annotator": ["ann"] * 4 + ["bob"] * 4,
    ...     "value": ["cat", "cat", "dog", "dog", "cat", "dog", "dog", "dog"],
    ...     "gold": False,
    ... })
    >>> pairwise_kappa(records, min_overlap=4)
    [{'a': 'ann', 'b': 'bob', 'n': 4, 'kappa': 0.5}]
    """
    min_overlap = check_int(min_overlap, "min_overlap", minimum=1)
    df = check_records(records)
    return _pairwise(latest_votes(df), min_overlap)


def _pairwise(votes: pd.DataFrame, min_overlap: int) -> list[dict]:
    if votes.empty:
        return []
    codes, uniques = pd.factorize(votes["value"])
    wide = (
        votes.assign(_code=codes)
        .pivot(index="sample", columns="annotator", values="_code")
        .sort_index(axis=1)
    )
    names = [str(c) for c in wide.columns]
    m = wide.to_numpy(dtype=np.float64)
    has = ~np.isnan(m)
    counts = has.T.astype(np.int64) @ has.astype(np.int64)  # shared samples per pair
    out = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            n = int(counts[i, j])
            if n < min_overlap:
                continue
            both = has[:, i] & has[:, j]
            x, y = m[both, i].astype(np.intp), m[both, j].astype(np.intp)
            out.append(
                {"a": names[i], "b": names[j], "n": n, "kappa": _cohen_codes(x, y, len(uniques))}
            )
    return out


def fleiss_kappa(records, *, min_raters: int = 2) -> dict:
    """Fleiss' kappa over the samples rated by at least ``min_raters`` annotators.

    Gold rows are left out; an annotator's latest label on a sample counts once.
    Samples may have different numbers of raters. With ``n_ik`` raters giving sample
    ``i`` category ``k`` and ``n_i`` raters in all, we use the generalisation of
    Gwet (2014, ch. 2) for missing ratings::

        P_i  = sum_k n_ik (n_ik - 1) / (n_i (n_i - 1))     # agreement on sample i
        P_o  = mean_i P_i
        pi_k = mean_i n_ik / n_i                           # category prevalence
        P_e  = sum_k pi_k ** 2
        kappa = (P_o - P_e) / (1 - P_e)

    over the kept samples only, which is exactly Fleiss (1971) when every sample has the
    same number of raters. (Gwet also counts singly-rated samples in ``pi_k``; we leave
    them out so that kappa depends only on the ``n_items`` samples reported.)
    When every rating is one and the same category (``P_e = 1``) kappa is 1.0.

    Parameters
    ----------
    records : pandas.DataFrame
        One row per label, with columns ``sample``, ``annotator``, ``value`` and ``gold``.
    min_raters : int, default=2
        Samples with fewer raters are left out (at least 2).

    Returns
    -------
    result : dict
        ``kappa`` (float, or None when no sample has ``min_raters`` raters),
        ``n_items`` (samples used) and ``n_raters_per_item`` (dict: number of raters ->
        number of samples with that many, ascending).

    References
    ----------
    Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
    Psychological Bulletin, 76(5), 378-382.
    Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed., ch. 2. Advanced Analytics.

    Examples
    --------
    >>> import pandas as pd
    >>> records = pd.DataFrame({
    ...     "sample": ["s1"] * 3 + ["s2"] * 2 + ["s3"] * 3,
    ...     "annotator": ["ann", "bob", "cy", "ann", "bob", "ann", "bob", "cy"],
    ...     "value": ["a", "a", "a", "a", "b", "a", "b", "b"],
    ...     "gold": False,
    ... })
    >>> r = fleiss_kappa(records)
    >>> round(r["kappa"], 4), r["n_items"], r["n_raters_per_item"]
    (-0.1688, 3, {2: 1, 3: 2})
    """
    min_raters = check_int(min_raters, "min_raters", minimum=2)
    votes = latest_votes(check_records(records))
    counts = pd.crosstab(votes["sample"], votes["value"]).to_numpy(dtype=np.float64)
    n_i = counts.sum(axis=1)
    keep = n_i >= min_raters
    counts, n_i = counts[keep], n_i[keep]
    per_item = dict(sorted(pd.Series(n_i.astype(int)).value_counts().items()))
    per_item = {int(k): int(v) for k, v in per_item.items()}
    if len(n_i) == 0:
        return {"kappa": None, "n_items": 0, "n_raters_per_item": {}}
    p_i = (counts * (counts - 1)).sum(axis=1) / (n_i * (n_i - 1))
    pi_k = (counts / n_i[:, None]).mean(axis=0)
    kappa = _kappa(float(p_i.mean()), float(pi_k @ pi_k))
    return {"kappa": kappa, "n_items": int(len(n_i)), "n_raters_per_item": per_item}
