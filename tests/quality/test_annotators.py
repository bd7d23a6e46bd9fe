import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from labelwise.errors import InvalidInputError
from labelwise.quality import annotator_report, gold_accuracy


def by_name(report):
    return {r["annotator"]: r for r in report}


def gold_answers(labels, annotator, wrong_at, n, *, round=1, start=0.0, duration=5.0):
    """``n`` answers to gold samples g0..g{n-1} (correct = "cat"), wrong at ``wrong_at``."""
    values = ["dog" if i in wrong_at else "cat" for i in range(n)]
    samples = [f"g{i}" for i in range(n)]
    return labels(
        annotator, samples, values, start=start, duration=duration, round=round, gold=True
    )


GOLD = {f"g{i}": "cat" for i in range(30)}


# --- gold accuracy -------------------------------------------------------------------------


def test_gold_accuracy_hand_counted(labels):
    records = pd.concat(
        [
            # ann: g0 cat (right), g1 dog (wrong), g2 fox (wrong), g0 again cat (right)
            labels("ann", ["g0", "g1", "g2", "g0"], ["cat", "dog", "fox", "cat"], gold=True),
            # bob: g1 cat (right); his non-gold label does not count
            labels("bob", ["g1", "s1"], ["cat", "dog"], gold=[True, False]),
            # cy: no gold rows at all
            labels("cy", ["s1"], ["dog"]),
        ]
    )
    gold = {"g0": "cat", "g1": "cat", "g2": "cat"}
    assert gold_accuracy(records, gold) == {
        "ann": {"n": 4, "correct": 2, "accuracy": 0.5},
        "bob": {"n": 1, "correct": 1, "accuracy": 1.0},
    }


def test_gold_accuracy_compares_as_strings():
    records = pd.DataFrame(
        {"sample": [1, 2], "annotator": "ann", "value": [3, 4], "gold": [True, True]}
    )
    assert gold_accuracy(records, {1: 3, "2": "5"})["ann"] == {
        "n": 2,
        "correct": 1,
        "accuracy": 0.5,
    }


def test_gold_accuracy_names_a_gold_sample_without_answer(labels):
    records = labels("ann", ["g0", "g9"], ["cat", "cat"], gold=True)
    with pytest.raises(InvalidInputError, match="'g9'"):
        gold_accuracy(records, {"g0": "cat"})


# --- flags: accuracy -----------------------------------------------------------------------


def test_accuracy_flag_fires_below_threshold_only_with_enough_gold(labels):
    records = pd.concat(
        [
            gold_answers(labels, "ann", {0, 10}, 11),  # 9/11 = 0.818
            gold_answers(labels, "bob", {4}, 10),  # 9/10 = 0.90: not below 0.90
            gold_answers(labels, "cy", {0, 1, 2, 3}, 4),  # 0/4 but only 4 gold answers
        ]
    )
    report = by_name(annotator_report(records, GOLD))
    assert report["ann"]["flags"] == ["accuracy 0.82 on 11 gold samples is below 0.90"]
    assert report["ann"]["gold_accuracy"] == pytest.approx(9 / 11)
    assert (report["ann"]["n_gold"], report["ann"]["gold_correct"]) == (11, 9)
    assert report["bob"]["flags"] == []
    assert report["cy"]["flags"] == []
    assert report["cy"]["gold_accuracy"] == 0.0
    # thresholds are parameters
    assert by_name(annotator_report(records, GOLD, min_gold=4))["cy"]["flags"] == [
        "accuracy 0.00 on 4 gold samples is below 0.90"
    ]
    assert by_name(annotator_report(records, GOLD, accuracy_min=0.8))["ann"]["flags"] == []


# --- flags: kappa --------------------------------------------------------------------------


def test_kappa_flag_names_the_partner(labels):
    truth = ["cat", "dog", "dog", "cat", "fox"] * 4
    cy = list(truth)
    for i in (1, 4, 7, 11, 14, 17):  # three mistakes in each half
        cy[i] = "cat" if truth[i] != "cat" else "dog"
    samples = [f"s{i}" for i in range(20)]
    records = pd.concat(
        [
            labels("ann", samples, truth, duration=5.0),
            labels("bob", samples, truth, duration=5.0, start=1.0),
            labels("cy", samples, cy, duration=5.0, start=2.0),
        ]
    )
    k = cohen_kappa_score(truth, cy)
    assert k < 0.8
    report = by_name(annotator_report(records, {}))
    assert report["cy"]["flags"] == [
        f"kappa {k:.2f} with ann is below 0.80",
        f"kappa {k:.2f} with bob is below 0.80",
    ]
    assert report["ann"]["flags"] == [f"kappa {k:.2f} with cy is below 0.80"]
    assert report["bob"]["flags"] == [f"kappa {k:.2f} with cy is below 0.80"]
    assert report["cy"]["mean_kappa"] == pytest.approx(k)
    assert report["ann"]["mean_kappa"] == pytest.approx((1.0 + k) / 2)
    assert report["ann"]["n_kappa_partners"] == 2
    assert all(r["flags"] == [] for r in annotator_report(records, {}, kappa_min=k - 0.01))
    # too little overlap: no kappa, no flag
    few = by_name(annotator_report(records, {}, min_overlap=21))
    assert few["cy"]["mean_kappa"] is None and few["cy"]["flags"] == []


# --- flags: slowing down -------------------------------------------------------------------


def test_slowdown_flag_fires_on_built_slowdown_and_not_otherwise(labels):
    s = [f"s{i}" for i in range(40)]
    records = pd.concat(
        [
            labels("ann", s[:20], ["cat"] * 20, duration=[4.0] * 10 + [9.1] * 10, round=3),
            # 5.9 s is below 1.5 x 4.0 s
            labels("bob", s[20:40], ["cat"] * 20, duration=[4.0] * 10 + [5.9] * 10, round=3),
            # 4 labels per half: too few to judge
            labels("cy", s[:8], ["cat"] * 8, duration=[4.0] * 4 + [20.0] * 4, round=3),
            # timestamps only: label 0 untimed, labels 1-9 4 s apart, labels 10-20 9 s apart
            labels("dee", s[:21], ["cat"] * 21, gaps=[4.0] * 10 + [9.0] * 11, round=3),
            # the slow labels are spread over two rounds: no slowdown within a round
            labels(
                "eve",
                s[:20],
                ["cat"] * 20,
                duration=[4.0] * 10 + [9.0] * 10,
                round=[1] * 10 + [2] * 10,
            ),
        ]
    )
    report = by_name(annotator_report(records, {}, kappa_min=-1.0))
    assert report["ann"]["flags"] == [
        "slowed down in round 3: median 9.1 s/label in the second half vs 4.0 s in the first"
    ]
    assert report["dee"]["flags"] == [
        "slowed down in round 3: median 9.0 s/label in the second half vs 4.0 s in the first"
    ]
    for quiet in ("bob", "cy", "eve"):
        assert report[quiet]["flags"] == [], quiet


def test_labels_per_hour_from_durations(labels):
    records = labels("ann", ["s1", "s2", "s3", "s4"], ["a"] * 4, duration=[10, 20, np.nan, 30])
    (r,) = annotator_report(records, {})
    # 3 labels with a known duration over 60 s
    assert r["rate_basis"] == "duration"
    assert r["labels_per_hour"] == pytest.approx(3 / 60 * 3600)
    assert r["active_hours"] == pytest.approx(60 / 3600)
    assert r["n_labels"] == 4


def test_labels_per_hour_from_timestamps_drops_breaks(labels):
    # 11 labels 10 s apart, a two-hour break, 6 more labels 10 s apart:
    # timed = 10 + 5 labels over 150 s (the label after the break is not timed)
    gaps = [10.0] * 11 + [7200.0] + [10.0] * 5
    records = labels("ann", [f"s{i}" for i in range(17)], ["a"] * 17, gaps=gaps)
    (r,) = annotator_report(records, {})
    assert r["rate_basis"] == "timestamps"
    assert r["labels_per_hour"] == pytest.approx(15 / 150 * 3600)
    assert r["active_hours"] == pytest.approx(150 / 3600)
    # one label only: nothing to time
    (one,) = annotator_report(records.iloc[:1], {})
    assert one["labels_per_hour"] is None and one["rate_basis"] is None


# --- flags: agreement drift ----------------------------------------------------------------


def test_gold_accuracy_drop_within_a_round(labels):
    records = pd.concat(
        [
            gold_answers(labels, "ann", {11, 13, 15, 17}, 20, round=2),  # 1.00 then 0.60
            gold_answers(labels, "bob", {15}, 20, round=2),  # 1.00 then 0.90: drop 0.10
            # the same 0.4 drop but only 4 gold answers per half
            gold_answers(labels, "cy", {5, 7}, 8, round=2),
        ]
    )
    report = by_name(annotator_report(records, GOLD))
    assert report["ann"]["flags"] == [
        "accuracy 0.80 on 20 gold samples is below 0.90",
        "agreement dropped in round 2: gold accuracy 0.60 in the second half vs 1.00 in the first",
    ]
    assert report["bob"]["flags"] == []
    assert report["cy"]["flags"] == ["accuracy 0.75 on 8 gold samples is below 0.90"]


def test_consensus_agreement_drop_within_a_round(labels):
    samples = [f"s{i}" for i in range(20)]
    truth = ["cat", "dog"] * 10
    ann = [("fox" if i in (12, 14, 16, 18) else v) for i, v in enumerate(truth)]
    records = pd.concat(
        [
            labels("ann", samples, ann, duration=5.0),
            labels("bob", samples, truth, duration=5.0, start=1.0),
            labels("cy", samples, truth, duration=5.0, start=2.0),
        ],
        ignore_index=True,
    )
    report = by_name(annotator_report(records, {}, kappa_min=0.0))
    assert report["ann"]["flags"] == [
        "agreement dropped in round 1: agreement with other annotators 0.60 in the second "
        "half vs 1.00 in the first"
    ]
    # for bob and cy the others tie on ann's four mistakes: not comparable, no drop
    assert report["bob"]["flags"] == [] and report["cy"]["flags"] == []

    # the same mistakes spread over both halves: no drop
    spread = [("fox" if i in (2, 6, 12, 16) else v) for i, v in enumerate(truth)]
    records.loc[records.annotator == "ann", "value"] = spread
    assert by_name(annotator_report(records, {}, kappa_min=0.0))["ann"]["flags"] == []


# --- other fields and validation -----------------------------------------------------------


def test_unsure_count_only_when_the_column_exists(labels):
    records = labels("ann", ["s1", "s2", "s3"], ["a"] * 3, duration=2.0)
    assert annotator_report(records, {})[0]["n_unsure"] is None
    records["unsure"] = [True, False, np.nan]
    assert annotator_report(records, {})[0]["n_unsure"] == 1


def test_report_keys_and_order(labels):
    records = pd.concat(
        [labels("zed", ["s1"], ["a"], duration=1.0), labels("amy", ["s1"], ["a"], duration=1.0)]
    )
    report = annotator_report(records, {})
    assert [r["annotator"] for r in report] == ["amy", "zed"]
    assert set(report[0]) == {
        "annotator",
        "n_labels",
        "n_gold",
        "gold_correct",
        "gold_accuracy",
        "mean_kappa",
        "n_kappa_partners",
        "labels_per_hour",
        "active_hours",
        "rate_basis",
        "n_unsure",
        "flags",
    }


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.drop(columns="duration"), "missing column 'duration'"),
        (lambda d: d.drop(columns="created_at"), "missing column 'created_at'"),
        (lambda d: d.assign(created_at="yesterday-ish"), "created_at"),
        (lambda d: d.assign(duration=[1.0, -2.0]), r"records\['duration'\].*-2"),
        (lambda d: d.assign(duration=["1", "fast"]), "'fast'"),
        (lambda d: d.assign(value=["a", None]), r"records\['value'\] is missing a value in row 1"),
        (lambda d: d.assign(gold=["yes", False]), r"records\['gold'\] must be True or False"),
        (lambda d: d.assign(round=["one", 1]), r"records\['round'\]"),
        (lambda d: list(d.values), "must be a pandas DataFrame"),
    ],
)
def test_report_validates_records(labels, change, match):
    records = labels("ann", ["s1", "s2"], ["a", "b"], duration=1.0)
    with pytest.raises(InvalidInputError, match=match):
        annotator_report(change(records), {})


def test_report_validates_arguments(labels):
    records = labels("ann", ["s1"], ["a"], duration=1.0)
    with pytest.raises(InvalidInputError, match="min_gold"):
        annotator_report(records, {}, min_gold=0)
    with pytest.raises(InvalidInputError, match="accuracy_min"):
        annotator_report(records, {}, accuracy_min="high")
    with pytest.raises(InvalidInputError, match="gold must be a dict"):
        annotator_report(records, ["g1"])
