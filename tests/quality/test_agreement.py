import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from labelwise.errors import InvalidInputError
from labelwise.quality import cohen_kappa, fleiss_kappa, pairwise_kappa

# Fleiss (1971) as worked on Wikipedia ("Fleiss' kappa", worked example): 10 subjects,
# 14 raters each, 5 categories; P-bar = 0.378, P_e = 0.213, kappa = 0.210.
WIKIPEDIA_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def records_from_counts(table, *, categories=None):
    """One label per rater: item i gets table[i, j] raters saying category j."""
    categories = categories or [f"c{j + 1}" for j in range(table.shape[1])]
    rows = []
    for i, counts in enumerate(table):
        rater = 0
        for j, n in enumerate(counts):
            for _ in range(int(n)):
                rows.append((f"item{i}", f"r{rater:02d}", categories[j], False))
                rater += 1
    return pd.DataFrame(rows, columns=["sample", "annotator", "value", "gold"])


# --- Cohen's kappa -------------------------------------------------------------------------


def test_cohen_kappa_hand_worked_2x2():
    # yes/yes 20, yes/no 5, no/yes 10, no/no 15: p_o = 0.7,
    # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, kappa = (0.7 - 0.5) / 0.5 = 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(b, a) == pytest.approx(0.4)


@pytest.mark.parametrize("seed", range(6))
def test_cohen_kappa_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n_classes = 2 + seed % 4
    a = rng.integers(0, n_classes, 80)
    b = np.where(rng.random(80) < 0.6, a, rng.integers(0, n_classes, 80))
    names = np.array(["cat", "dog", "fox", "owl", "yak"])
    expected = cohen_kappa_score(a, b)
    assert cohen_kappa(names[a], names[b]) == pytest.approx(expected, abs=1e-12)
    assert cohen_kappa(list(a), list(b)) == pytest.approx(expected, abs=1e-12)


def test_cohen_kappa_degenerate_cases_are_defined():
    assert cohen_kappa(["a"] * 5, ["a"] * 5) == 1.0  # both constant and equal
    assert cohen_kappa(["a"] * 5, ["b"] * 5) == 0.0  # both constant, different
    assert cohen_kappa(["a"], ["b"]) == 0.0
    # one constant rater: p_e = p_b(a); kappa = (0.6 - 0.6) / (1 - 0.6) = 0
    assert cohen_kappa(["a"] * 5, ["a", "a", "a", "b", "b"]) == pytest.approx(0.0)
    # perfect disagreement on two balanced classes: p_o = 0, p_e = 0.5 -> -1
    assert cohen_kappa(["a", "b"] * 3, ["b", "a"] * 3) == pytest.approx(-1.0)


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (["a", "b"], ["a"], "same length"),
        ([], [], "at least one item"),
        ("ab", "ab", "1-D"),
        (["a", None], ["a", "b"], "missing label at position 1"),
        ([["a"], ["b"]], [["a"], ["b"]], "1-D"),
    ],
)
def test_cohen_kappa_rejects_bad_input(a, b, match):
    with pytest.raises(InvalidInputError, match=match):
        cohen_kappa(a, b)


# --- pairwise kappa ------------------------------------------------------------------------


def test_pairwise_kappa_matches_sklearn_on_shared_samples():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 60)
    names = np.array(["cat", "dog", "fox"])
    clean = []
    for k, annotator in enumerate(["ann", "bob", "cy", "dee"]):
        labelled = np.flatnonzero(rng.random(60) < (0.7 if annotator != "dee" else 0.05))
        noisy = np.where(rng.random(60) < 0.7 + 0.05 * k, truth, rng.integers(0, 3, 60))
        for i in labelled:
            clean.append((f"s{i:02d}", annotator, names[noisy[i]], False, 100 + i))
    clean = pd.DataFrame(clean, columns=["sample", "annotator", "value", "gold", "t"])

    # Noise the function must ignore: gold rows, and labels that a later one replaced
    # (placed after the clean rows in the table but earlier in time).
    gold_rows = pd.DataFrame(
        {"sample": "g1", "annotator": ["ann", "bob", "cy"], "value": ["owl"] * 3, "gold": True}
    ).assign(t=500)
    superseded = clean.iloc[::7].assign(value="owl", t=lambda d: d["t"] - 50)
    records = pd.concat([clean, gold_rows, superseded], ignore_index=True)
    records["created_at"] = pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(
        records.pop("t"), unit="s"
    )

    got = pairwise_kappa(records, min_overlap=5)

    expected = []
    for a, b in itertools.combinations(["ann", "bob", "cy", "dee"], 2):
        m = clean[clean.annotator == a].merge(clean[clean.annotator == b], on="sample")
        if len(m) >= 5:
            expected.append((a, b, len(m), cohen_kappa_score(m.value_x, m.value_y)))
    assert [(p["a"], p["b"], p["n"]) for p in got] == [e[:3] for e in expected]
    assert [p["kappa"] for p in got] == pytest.approx([e[3] for e in expected], abs=1e-12)
    assert {"ann", "bob", "cy"} <= {p["a"] for p in got} | {p["b"] for p in got}
    assert all(p["n"] >= 5 for p in got)
    assert not any("dee" in (p["a"], p["b"]) for p in got)  # dee overlaps too little


def test_pairwise_kappa_without_created_at_uses_row_order():
    records = pd.DataFrame(
        {
            "sample": ["s1", "s2", "s1", "s2", "s1"],
            "annotator": ["ann", "ann", "bob", "bob", "ann"],
            "value": ["x", "y", "y", "y", "y"],  # ann's last word on s1 is "y"
            "gold": False,
        }
    )
    assert pairwise_kappa(records, min_overlap=2) == [
        {"a": "ann", "b": "bob", "n": 2, "kappa": 1.0}
    ]
    assert pairwise_kappa(records, min_overlap=3) == []


# --- Fleiss' kappa -------------------------------------------------------------------------


def test_fleiss_kappa_wikipedia_worked_example():
    r = fleiss_kappa(records_from_counts(WIKIPEDIA_TABLE))
    assert r["kappa"] == pytest.approx(0.210, abs=5e-4)
    assert r["n_items"] == 10
    assert r["n_raters_per_item"] == {14: 10}


def test_fleiss_kappa_matches_statsmodels():
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    rng = np.random.default_rng(0)
    for n_raters, n_cats in [(3, 2), (5, 4), (7, 3)]:
        truth = rng.integers(0, n_cats, 40)
        table = np.zeros((40, n_cats), dtype=int)
        for i, t in enumerate(truth):
            votes = np.where(rng.random(n_raters) < 0.6, t, rng.integers(0, n_cats, n_raters))
            table[i] = np.bincount(votes, minlength=n_cats)
        expected = inter_rater.fleiss_kappa(table, method="fleiss")
        got = fleiss_kappa(records_from_counts(table))["kappa"]
        assert got == pytest.approx(expected, abs=1e-12)


def test_fleiss_kappa_with_varying_raters_hand_worked():
    # item1: a a a   item2: a b   item3: a b b   item4: b (one rater: left out)
    # P_i = 1, 0, 1/3 -> P_o = 4/9
    # pi_a = (1 + 1/2 + 1/3) / 3 = 11/18, pi_b = 7/18 -> P_e = 170/324
    # kappa = (4/9 - 170/324) / (1 - 170/324) = -13/77
    records = records_from_counts(np.array([[3, 0], [1, 1], [1, 2], [0, 1]]), categories=["a", "b"])
    r = fleiss_kappa(records)
    assert r["kappa"] == pytest.approx(-13 / 77, abs=1e-12)
    assert r["n_items"] == 3
    assert r["n_raters_per_item"] == {2: 1, 3: 2}
    # with min_raters=3 only items 1 and 3 remain:
    # P_o = (1 + 1/3) / 2 = 2/3; pi_a = (1 + 1/3)/2 = 2/3, pi_b = 1/3; P_e = 5/9
    # kappa = (2/3 - 5/9) / (4/9) = 1/4
    r3 = fleiss_kappa(records, min_raters=3)
    assert r3["kappa"] == pytest.approx(0.25, abs=1e-12)
    assert (r3["n_items"], r3["n_raters_per_item"]) == (2, {3: 2})


def test_fleiss_kappa_ignores_gold_and_handles_degenerate_cases():
    records = records_from_counts(np.array([[3, 0], [2, 0]]), categories=["a", "b"])
    assert fleiss_kappa(records)["kappa"] == 1.0  # every rating "a": defined as 1
    gold = pd.DataFrame({"sample": "item0", "annotator": "zed", "value": "b", "gold": [True]})
    assert fleiss_kappa(pd.concat([records, gold]))["kappa"] == 1.0
    single = records_from_counts(np.array([[1, 0], [0, 1]]), categories=["a", "b"])
    assert fleiss_kappa(single) == {"kappa": None, "n_items": 0, "n_raters_per_item": {}}
    with pytest.raises(InvalidInputError, match="min_raters"):
        fleiss_kappa(records, min_raters=1)
