"""Consensus labels from several annotators: majority vote, CROWDLAB and ActiveLab."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelwise._validation import check_proba
from labelwise.errors import InvalidInputError
from labelwise.quality._records import (
    SEQ,
    check_classes,
    check_int,
    check_records,
    check_samples,
    latest_votes,
)

__all__ = [
    "majority_vote",
    "crowdlab_consensus",
    "crowdlab_annotator_quality",
    "relabel_or_new",
]


def majority_vote(records) -> pd.DataFrame:
    """Consensus label of each sample by majority vote.

    Gold rows are left out; an annotator's latest label on a sample is their one vote.
    A tie goes to the tied value that was given first (by ``created_at`` when present,
    else by row order).

    Parameters
    ----------
    records : pandas.DataFrame
        One row per label, with columns ``sample``, ``annotator``, ``value``, ``gold``
        and optionally ``created_at``.

    Returns
    -------
    consensus : pandas.DataFrame
        One row per sample, sorted by sample, with columns ``sample``, ``label``,
        ``agreement`` (fraction of the sample's annotators who gave ``label``) and
        ``n_annotators``.

    Examples
    --------
    >>> import pandas as pd
    >>> records = pd.DataFrame({
    ...     "sample": ["s1", "s1", "s1", "s2", "s2"],
    ...     "annotator": ["ann", "bob", "cy", "ann", "bob"],
    ...     "value": ["cat", "dog", "cat", "dog", "cat"],
    ...     "gold": False,
    ... })
    >>> majority_vote(records)
      sample label  agreement  n_annotators
    0     s1   cat   0.666667             3
    1     s2   dog   0.500000             2
    """
    votes = latest_votes(check_records(records))
    columns = ["sample", "label", "agreement", "n_annotators"]
    if votes.empty:
        dtypes = (str, str, np.float64, np.int64)
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(columns, dtypes, strict=True)})
    tally = (
        votes.groupby(["sample", "value"], sort=False)
        .agg(n=("annotator", "size"), first=(SEQ, "min"))
        .reset_index()
        .sort_values(["sample", "n", "first"], ascending=[True, False, True])
    )
    top = tally.drop_duplicates("sample").set_index("sample")
    n_annotators = votes.groupby("sample").size()
    out = pd.DataFrame(
        {
            "sample": top.index.to_numpy(),
            "label": top["value"].to_numpy(),
            "agreement": (top["n"] / n_annotators.loc[top.index]).to_numpy(dtype=np.float64),
            "n_annotators": n_annotators.loc[top.index].to_numpy(dtype=np.int64),
        }
    )
    return out.sort_values("sample", ignore_index=True)


def _labels_matrix(records, pred_probs, classes, samples, name: str):
    """Annotator labels as an (n_labeled, n_annotators) DataFrame of class indices / NaN.

    Returns the matrix (rows = samples with at least one non-gold label, in ``samples``
    order), the validated probabilities of those rows, their ids and the class names.
    """
    classes = check_classes(classes)
    p = check_proba(pred_probs, name=name)
    if p.shape[1] != len(classes):
        raise InvalidInputError(
            f"{name} has {p.shape[1]} columns but classes lists {len(classes)} classes."
        )
    ids = check_samples(samples, len(p), name)
    votes = latest_votes(check_records(records))
    code = votes["value"].map({c: i for i, c in enumerate(classes)})
    if code.isna().any():
        bad = votes.loc[code.isna(), "value"].iloc[0]
        raise InvalidInputError(f"records has value {bad!r}, which is not in classes {classes}.")
    position = pd.Series(np.arange(len(ids)), index=ids)
    unknown = ~votes["sample"].isin(position.index)
    if unknown.any():
        raise InvalidInputError(
            f"records labels sample {votes.loc[unknown, 'sample'].iloc[0]!r}, which is not in "
            f"samples (no row of {name} for it)."
        )
    wide = (
        votes.assign(_code=code.astype(np.float64))
        .pivot(index="sample", columns="annotator", values="_code")
        .sort_index(axis=1)
    )
    labeled = [s for s in ids if s in wide.index]
    wide = wide.loc[labeled]
    wide.columns = [str(c) for c in wide.columns]
    return wide, p[position.loc[labeled].to_numpy()], labeled, classes


def _crowdlab(records, pred_probs, classes, samples):
    from cleanlab.multiannotator import get_label_quality_multiannotator

    wide, p, labeled, classes = _labels_matrix(records, pred_probs, classes, samples, "pred_probs")
    if wide.shape[1] < 2:
        raise InvalidInputError(
            "crowdlab_consensus needs labels from at least 2 annotators; "
            f"records has {wide.shape[1]}. Use find_label_issues for single-annotator labels."
        )
    if not (wide.notna().sum(axis=1) > 1).any():
        raise InvalidInputError(
            "crowdlab_consensus needs at least one sample labelled by 2 or more annotators; "
            "every sample has a single label."
        )
    result = get_label_quality_multiannotator(wide, p, verbose=False)
    lq = result["label_quality"]
    consensus = pd.DataFrame(
        {
            "sample": labeled,
            "label": [classes[int(i)] for i in lq["consensus_label"]],
            "quality": lq["consensus_quality_score"].to_numpy(dtype=np.float64),
            "agreement": lq["annotator_agreement"].to_numpy(dtype=np.float64),
            "n_annotators": lq["num_annotations"].to_numpy(dtype=np.int64),
        }
    )
    stats = result["annotator_stats"]
    annotators = pd.DataFrame(
        {
            "annotator": [str(a) for a in stats.index],
            "quality": stats["annotator_quality"].to_numpy(dtype=np.float64),
            "agreement": stats["agreement_with_consensus"].to_numpy(dtype=np.float64),
            "worst_class": [classes[int(i)] for i in stats["worst_class"]],
            "n_labels": stats["num_examples_labeled"].to_numpy(dtype=np.int64),
        }
    ).sort_values(["quality", "annotator"], ignore_index=True)
    return consensus, annotators


def crowdlab_consensus(records, pred_probs, classes, samples) -> pd.DataFrame:
    """Consensus labels from several annotators and a model (CROWDLAB).

    Gold rows are left out; an annotator's latest label on a sample counts.

    Parameters
    ----------
    records : pandas.DataFrame
        One row per label, with columns ``sample``, ``annotator``, ``value`` and ``gold``;
        every ``value`` must be one of ``classes``.
    pred_probs : array-like of shape (n_samples, n_classes)
        Out-of-fold model probabilities, row ``i`` for ``samples[i]``, column ``k`` for
        ``classes[k]``.
    classes : sequence of str
        Class names, in the column order of ``pred_probs``.
    samples : sequence of str
        Sample ids, aligned with the rows of ``pred_probs``; must include every labelled
        sample in ``records``.

    Returns
    -------
    consensus : pandas.DataFrame
        One row per sample of ``samples`` that has at least one non-gold label, in
        ``samples`` order, with columns ``sample``, ``label`` (consensus class),
        ``quality`` (CROWDLAB consensus quality in [0, 1]; low = check this sample),
        ``agreement`` (fraction of its annotators who gave ``label``) and
        ``n_annotators``. ``consensus.attrs["annotator_quality"]`` holds the rows of
        :func:`crowdlab_annotator_quality`'s table, computed in the same run, as a list
        of dicts (``pandas.DataFrame(...)`` turns it back into the table).

    Raises
    ------
    InvalidInputError
        If there are fewer than 2 annotators, no sample has 2 or more labels, a value is
        not in ``classes``, or a labelled sample is not in ``samples``.

    References
    ----------
    Goh, H. W., Tkachenko, U. and Mueller, J. (2022). CROWDLAB: Supervised learning to
    infer consensus labels and quality scores for data with multiple annotators.
    NeurIPS 2022 Human in the Loop Learning Workshop. arXiv:2210.06812.

    Examples
    --------
    >>> import pandas as pd
    >>> records = pd.DataFrame({
    ...     "sample": ["s1", "s1", "s2", "s2", "s3", "s3"],
    ...     "annotator": ["ann", "bob"] * 3,
    ...     "value": ["cat", "cat", "dog", "dog", "cat", "dog"],
    ...     "gold": False,
    ... })
    >>> proba = [[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]
    >>> crowdlab_consensus(records, proba, ["cat", "dog"], ["s1", "s2", "s3"])["label"].tolist()
    ['cat', 'dog', 'dog']
    """
    consensus, annotators = _crowdlab(records, pred_probs, classes, samples)
    # A list of dicts, not a DataFrame: pandas compares attrs on concat, and DataFrames
    # cannot be compared with ``==``; the list is also ready for a JSON response.
    consensus.attrs["annotator_quality"] = annotators.to_dict("records")
    return consensus


def crowdlab_annotator_quality(records, pred_probs, classes, samples) -> pd.DataFrame:
    """Per-annotator quality from CROWDLAB (same arguments as :func:`crowdlab_consensus`).

    Returns
    -------
    annotators : pandas.DataFrame
        One row per annotator, worst first, with columns ``annotator``, ``quality``
        (CROWDLAB annotator quality in [0, 1]), ``agreement`` (fraction of their labels
        equal to the consensus), ``worst_class`` (the class on which their labels are
        least reliable) and ``n_labels``. :func:`crowdlab_consensus` gives the same rows
        in its ``attrs["annotator_quality"]``: both tables from one run.

    References
    ----------
    Goh, H. W., Tkachenko, U. and Mueller, J. (2022). CROWDLAB: Supervised learning to
    infer consensus labels and quality scores for data with multiple annotators.
    arXiv:2210.06812.

    Examples
    --------
    >>> import pandas as pd
    >>> records = pd.DataFrame({
    ...     "sample": ["s1", "s1", "s2", "s2", "s3", "s3", "s4", "s4"],
    ...     "annotator": ["ann", "bob"] * 4,
    ...     "value": ["cat", "dog", "dog", "cat", "cat", "dog", "dog", "dog"],
    ...     "gold": False,
    ... })
    >>> proba = [[0.9, 0.1], [0.2, 0.8], [0.8, 0.2], [0.1, 0.9]]
    >>> q = crowdlab_annotator_quality(records, proba, ["cat", "dog"], ["s1", "s2", "s3", "s4"])
    >>> q["annotator"].tolist()
    ['bob', 'ann']
    """
    return _crowdlab(records, pred_probs, classes, samples)[1]


def relabel_or_new(
    records,
    pred_probs_labeled,
    pred_probs_unlabeled,
    classes,
    samples,
    *,
    top_k: int = 10,
) -> dict:
    """Rank samples to relabel and new samples to label on one scale (ActiveLab).

    Parameters
    ----------
    records : pandas.DataFrame
        One row per label, with columns ``sample``, ``annotator``, ``value`` and ``gold``
        (gold rows are left out; an annotator's latest label on a sample counts).
    pred_probs_labeled : array-like of shape (n_samples, n_classes)
        Model probabilities for the labelled samples, aligned with ``samples``.
    pred_probs_unlabeled : array-like of shape (n_unlabeled, n_classes) or None
        Model probabilities for unlabelled candidates; None or 0 rows = no candidates.
    classes : sequence of str
        Class names, in column order.
    samples : sequence of str
        Sample ids aligned with the rows of ``pred_probs_labeled``; ids without any
        non-gold label in ``records`` are skipped.
    top_k : int, default=10
        How many of the best of each kind ``advice`` compares.

    Returns
    -------
    result : dict
        ``relabel``: list of ``(sample, score)``; ``new``: list of ``(position in
        pred_probs_unlabeled, score)``; both sorted best first. ``score`` is
        ``1 - ActiveLab score``, so that, as everywhere in labelwise, higher = label
        first; scores of both lists are comparable. ``advice``: one line saying which
        kind scores higher on average over its ``top_k`` best, and how many of the
        ``top_k`` best overall are relabels.

    References
    ----------
    Goh, H. W. and Mueller, J. (2023). ActiveLab: Active learning with re-labeling by
    multiple annotators. ICLR 2023 Workshop on Trustworthy ML. arXiv:2301.11856.

    Examples
    --------
    >>> import pandas as pd
    >>> records = pd.DataFrame({
    ...     "sample": ["s1", "s1", "s2", "s2", "s3"],
    ...     "annotator": ["ann", "bob", "ann", "bob", "ann"],
    ...     "value": ["cat", "dog", "cat", "cat", "dog"],
    ...     "gold": False,
    ... })
    >>> proba = [[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]
    >>> r = relabel_or_new(records, proba, [[0.99, 0.01]], ["cat", "dog"], ["s1", "s2", "s3"])
    >>> [s for s, _ in r["relabel"]], [i for i, _ in r["new"]]
    (['s1', 's3', 's2'], [0])
    >>> r["advice"].split(":")[0]
    'Relabel first'
    """
    from cleanlab.multiannotator import get_active_learning_scores

    top_k = check_int(top_k, "top_k", minimum=1)
    wide, p, labeled, classes = _labels_matrix(
        records, pred_probs_labeled, classes, samples, "pred_probs_labeled"
    )
    pu = None
    if pred_probs_unlabeled is not None and np.size(pred_probs_unlabeled) > 0:
        pu = check_proba(pred_probs_unlabeled, name="pred_probs_unlabeled")
        if pu.shape[1] != len(classes):
            raise InvalidInputError(
                f"pred_probs_unlabeled has {pu.shape[1]} columns but classes lists "
                f"{len(classes)} classes."
            )
    if not labeled and pu is None:
        raise InvalidInputError(
            "relabel_or_new has nothing to score: no labelled sample and no unlabelled one."
        )
    if labeled:
        s_labeled, s_unlabeled = get_active_learning_scores(wide, p, pu)
    else:
        s_labeled, s_unlabeled = np.empty(0), get_active_learning_scores(None, None, pu)[1]
    s_labeled = np.asarray(s_labeled, dtype=np.float64)
    s_unlabeled = np.asarray(s_unlabeled if pu is not None else [], dtype=np.float64)

    r_order = np.argsort(s_labeled, kind="stable")
    n_order = np.argsort(s_unlabeled, kind="stable")
    relabel = [(labeled[i], float(1.0 - s_labeled[i])) for i in r_order]
    new = [(int(i), float(1.0 - s_unlabeled[i])) for i in n_order]
    return {"relabel": relabel, "new": new, "advice": _advice(relabel, new, top_k)}


def _advice(relabel: list, new: list, top_k: int) -> str:
    if not new:
        return "Relabel first: there are no unlabelled samples to compare with."
    if not relabel:
        return "Label new samples first: there is no labelled sample to relabel."
    r, n = relabel[:top_k], new[:top_k]
    mean_r, mean_n = np.mean([s for _, s in r]), np.mean([s for _, s in n])
    merged = sorted(
        [(s, "relabel") for _, s in r] + [(s, "new") for _, s in n], key=lambda t: -t[0]
    )
    best = merged[:top_k]
    n_relabel = sum(kind == "relabel" for _, kind in best)
    if mean_r > mean_n:
        head = "Relabel first"
    elif mean_n > mean_r:
        head = "Label new samples first"
    else:
        head = "Relabel or label new samples: they tie"
    return (
        f"{head}: the top {len(r)} samples to relabel score {mean_r:.3f} on average vs "
        f"{mean_n:.3f} for the top {len(n)} new samples; {n_relabel} of the best "
        f"{len(best)} overall are relabels."
    )
