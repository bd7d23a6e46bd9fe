"""Annotator quality and label issues: agreement, gold accuracy, consensus, suspect labels.

Pure functions over a *records* table (a pandas DataFrame with one row per label given
by a person: ``sample``, ``annotator``, ``value``, ``created_at``, ``duration``,
``round``, ``gold`` and optionally ``unsure``) and over arrays; no database, no web.
Unless a function says otherwise, gold rows are left out of agreement and consensus,
and when an annotator labelled a sample more than once their latest label counts
(latest by ``created_at`` when the column is there, else by row order). Bad input
raises :class:`~labelwise.errors.InvalidInputError` naming the column or value.
"""

from labelwise.quality._agreement import cohen_kappa, fleiss_kappa, pairwise_kappa
from labelwise.quality._annotators import annotator_report, gold_accuracy
from labelwise.quality._consensus import (
    crowdlab_annotator_quality,
    crowdlab_consensus,
    majority_vote,
    relabel_or_new,
)
from labelwise.quality._issues import find_label_issues, issues_from_proba, out_of_fold_proba

__all__ = [
    "cohen_kappa",
    "pairwise_kappa",
    "fleiss_kappa",
    "gold_accuracy",
    "annotator_report",
    "majority_vote",
    "crowdlab_consensus",
    "crowdlab_annotator_quality",
    "find_label_issues",
    "issues_from_proba",
    "out_of_fold_proba",
    "relabel_or_new",
]
