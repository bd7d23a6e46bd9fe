import doctest
import importlib

import pytest

import labelwise.quality as quality

MODULES = ["_agreement", "_annotators", "_consensus", "_issues", "_records"]


def test_public_api():
    assert sorted(quality.__all__) == sorted(
        [
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
    )
    for name in quality.__all__:
        fn = getattr(quality, name)
        assert fn.__doc__ and "Examples" in fn.__doc__, name


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    mod = importlib.import_module(f"labelwise.quality.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
