"""Committee / Bayesian scorers against a loop-based reference written here with math.log."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labelwise.errors import InvalidInputError
from labelwise.strategies import (
    bald,
    committee_std,
    consensus_entropy,
    kl_divergence,
    max_disagreement,
    variation_ratio,
    vote_entropy,
)

# ------------------------------------------------------------------- reference (plain loops)


def _h(dist):
    """Shannon entropy in nats, 0 log 0 = 0."""
    return -sum(q * math.log(q) for q in dist if q > 0)


def _argmax(row):
    best = 0
    for j in range(1, len(row)):
        if row[j] > row[best]:
            best = j
    return best


def _consensus(P, i):
    m, c = len(P), len(P[0][0])
    return [sum(P[k][i][j] for k in range(m)) / m for j in range(c)]


def _vote_fractions(P, i):
    m, c = len(P), len(P[0][0])
    counts = [0] * c
    for k in range(m):
        counts[_argmax(P[k][i])] += 1
    return [v / m for v in counts]


def _kl(p, q):
    return sum(p[j] * math.log(p[j] / q[j]) for j in range(len(p)) if p[j] > 0)


def ref_vote_entropy(P):
    return [_h(_vote_fractions(P, i)) for i in range(len(P[0]))]


def ref_consensus_entropy(P):
    return [_h(_consensus(P, i)) for i in range(len(P[0]))]


def ref_kl_divergence(P):
    out = []
    for i in range(len(P[0])):
        cons = _consensus(P, i)
        out.append(sum(_kl(P[k][i], cons) for k in range(len(P))) / len(P))
    return out


def ref_max_disagreement(P):
    out = []
    for i in range(len(P[0])):
        cons = _consensus(P, i)
        out.append(max(_kl(P[k][i], cons) for k in range(len(P))))
    return out


def ref_bald(P):
    out = []
    for i in range(len(P[0])):
        mean_member_h = sum(_h(P[k][i]) for k in range(len(P))) / len(P)
        out.append(_h(_consensus(P, i)) - mean_member_h)
    return out


def ref_variation_ratio(P):
    return [1.0 - max(_vote_fractions(P, i)) for i in range(len(P[0]))]


REFERENCE = {
    vote_entropy: ref_vote_entropy,
    consensus_entropy: ref_consensus_entropy,
    kl_divergence: ref_kl_divergence,
    max_disagreement: ref_max_disagreement,
    bald: ref_bald,
    variation_ratio: ref_variation_ratio,
}
SCORERS = list(REFERENCE)
scorers = pytest.mark.parametrize("fn", SCORERS, ids=lambda f: f.__name__)


@st.composite
def committee_probas(draw):
    """(n_members, n_samples, n_classes) probabilities as nested lists; exact zeros allowed."""
    m = draw(st.integers(1, 6))
    n = draw(st.integers(1, 20))
    c = draw(st.integers(2, 5))
    w = draw(
        hnp.arrays(np.float64, (m, n, c), elements=st.one_of(st.just(0.0), st.floats(1e-3, 1.0)))
    )
    w[w.sum(axis=2) == 0] = 1.0  # an all-zero row becomes uniform
    return (w / w.sum(axis=2, keepdims=True)).tolist()


# --------------------------------------------------------------------------- against the reference


@scorers
@settings(max_examples=40, deadline=None)
@given(P=committee_probas())
def test_matches_loop_reference(fn, P):
    # a member with a tie for its top class votes the first of them, in both implementations
    got = fn(np.array(P))
    want = REFERENCE[fn](P)
    assert got.shape == (len(P[0]),)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("fn", [vote_entropy, consensus_entropy], ids=lambda f: f.__name__)
@settings(max_examples=25, deadline=None)
@given(P=committee_probas())
def test_normalized_matches_reference(fn, P):
    c = len(P[0][0])
    want = [v / math.log(c) for v in REFERENCE[fn](P)]
    np.testing.assert_allclose(fn(np.array(P), normalize=True), want, rtol=1e-9, atol=1e-9)


@scorers
@settings(max_examples=25, deadline=None)
@given(P=committee_probas())
def test_non_negative_and_no_mutation(fn, P):
    arr = np.array(P)
    before = arr.copy()
    s = fn(arr)
    assert np.all(s >= 0)
    np.testing.assert_array_equal(arr, before)


# --------------------------------------------------------------------------- hand-worked example

# three members, three classes, one sample
#   M1 = [0.7, 0.2, 0.1] votes 0, M2 = [0.2, 0.6, 0.2] votes 1, M3 = [0.6, 0.3, 0.1] votes 0
#   vote fractions [2/3, 1/3, 0]
#     vote_entropy = -(2/3 ln 2/3 + 1/3 ln 1/3) = 0.2703100721 + 0.3662040962 = 0.6365141683
#     variation_ratio = 1 - 2/3 = 0.3333333333
#   consensus c = [1.5/3, 1.1/3, 0.4/3] = [0.5, 11/30, 2/15]
#     consensus_entropy = 0.5 ln 2 + (11/30) ln(30/11) + (2/15) ln(15/2)
#                       = 0.3465735903 + 0.3678774399 + 0.2686537361 = 0.9831047663
#   KL(M1 || c) = 0.7 ln 1.4 + 0.2 ln(6/11) + 0.1 ln 0.75
#               = 0.2355305656 - 0.1212271607 - 0.0287682072 = 0.0855351977
#   KL(M2 || c) = 0.2 ln 0.4 + 0.6 ln(18/11) + 0.2 ln 1.5
#               = -0.1832581464 + 0.2954858911 + 0.0810930216 = 0.1933207663
#   KL(M3 || c) = 0.6 ln 1.2 + 0.3 ln(9/11) + 0.1 ln 0.75
#               = 0.1093929341 - 0.0602012087 - 0.0287682072 = 0.0204235182
#     kl_divergence = (0.0855351977 + 0.1933207663 + 0.0204235182) / 3 = 0.0997598274
#     max_disagreement = 0.1933207663
#   bald = H(c) - mean H(member) = mean KL(member || c) (the identity) = 0.0997598274
HAND = [[[0.7, 0.2, 0.1]], [[0.2, 0.6, 0.2]], [[0.6, 0.3, 0.1]]]
HAND_EXPECTED = {
    vote_entropy: 0.6365141683,
    variation_ratio: 1 / 3,
    consensus_entropy: 0.9831047663,
    kl_divergence: 0.0997598274,
    max_disagreement: 0.1933207663,
    bald: 0.0997598274,
}


@scorers
def test_hand_worked_example(fn):
    assert fn(HAND)[0] == pytest.approx(HAND_EXPECTED[fn], abs=1e-9)


def test_hand_worked_member_entropies_for_bald():
    # independent route to bald: member entropies by hand
    #   H(M1) = 0.7 ln(1/0.7) + 0.2 ln 5 + 0.1 ln 10 = 0.24967246 + 0.32188758 + 0.23025851
    #         = 0.80181855
    #   H(M2) = 2 * 0.2 ln 5 + 0.6 ln(1/0.6) = 0.64377516 + 0.30649537 = 0.95027054
    #   H(M3) = 0.89794572 (the uncertainty example [0.6, 0.3, 0.1])
    #   bald = 0.98310477 - (0.80181855 + 0.95027054 + 0.89794572) / 3
    #        = 0.98310477 - 0.88334494 = 0.09975983
    assert bald(HAND)[0] == pytest.approx(0.09975983, abs=2e-8)


# --------------------------------------------------------------------------- zero disagreement


@pytest.mark.parametrize(
    "fn", [kl_divergence, max_disagreement, bald, variation_ratio], ids=lambda f: f.__name__
)
@settings(max_examples=25, deadline=None)
@given(P=committee_probas())
def test_all_members_equal_scores_zero(fn, P):
    same = np.array([P[0]] * len(P))
    np.testing.assert_allclose(fn(same), 0.0, atol=1e-12)


def test_agreeing_votes_zero_vote_entropy():
    # every member votes class 1 (different confidences): vote entropy 0, variation ratio 0
    P = [[[0.1, 0.9]], [[0.3, 0.7]], [[0.45, 0.55]]]
    assert vote_entropy(P)[0] == pytest.approx(0.0, abs=1e-12)
    assert variation_ratio(P)[0] == pytest.approx(0.0, abs=1e-12)
    # ... while the consensus [17/60, 43/60] is not certain:
    #   (17/60) ln(60/17) + (43/60) ln(60/43) = 0.357320512 + 0.238753520 = 0.596074032
    assert consensus_entropy(P)[0] == pytest.approx(0.596074032, abs=1e-8)


def test_opposite_confident_members_maximal_disagreement():
    # two one-hot members that disagree: consensus [0.5, 0.5]
    #   bald = ln 2 - 0 = 0.6931471806; KL of each = 1 * ln(1/0.5) = ln 2
    P = [[[1.0, 0.0]], [[0.0, 1.0]]]
    ln2 = 0.6931471806
    assert bald(P)[0] == pytest.approx(ln2, abs=1e-9)
    assert kl_divergence(P)[0] == pytest.approx(ln2, abs=1e-9)
    assert max_disagreement(P)[0] == pytest.approx(ln2, abs=1e-9)
    assert vote_entropy(P)[0] == pytest.approx(ln2, abs=1e-9)
    assert variation_ratio(P)[0] == pytest.approx(0.5, abs=1e-12)


# --------------------------------------------------------------------------- committee_std


def _manual_std(values):
    """Population standard deviation with plain Python."""
    n = len(values)
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / n)


@settings(max_examples=40, deadline=None)
@given(
    preds=st.integers(1, 6).flatmap(
        lambda m: st.integers(1, 20).flatmap(
            lambda n: st.lists(
                st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n), min_size=m, max_size=m
            )
        )
    )
)
def test_committee_std_matches_manual(preds):
    got = committee_std(np.array(preds))
    want = [_manual_std([member[i] for member in preds]) for i in range(len(preds[0]))]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_committee_std_hand_worked():
    # sample 0: members 1, 2, 6 -> mean 3, deviations -2, -1, 3 -> (4 + 1 + 9) / 3 = 14/3
    #   std = sqrt(4.6667) = 2.1602468995
    # sample 1: all 5 -> 0
    got = committee_std([[1.0, 5.0], [2.0, 5.0], [6.0, 5.0]])
    np.testing.assert_allclose(got, [2.1602468995, 0.0], atol=1e-9)


@pytest.mark.parametrize(
    "bad",
    [[1.0, 2.0], [[[1.0]]], [[1.0, np.nan]], [[np.inf, 0.0]]],
    ids=["1-D", "3-D", "nan", "inf"],
)
def test_committee_std_invalid(bad):
    with pytest.raises(InvalidInputError):
        committee_std(bad)


# --------------------------------------------------------------------------- invalid input

BAD = {
    "2-D": [[0.5, 0.5]],
    "1-D": [0.5, 0.5],
    "4-D": [[[[0.5, 0.5]]]],
    "no members": np.zeros((0, 3, 2)),
    "one class": [[[1.0]]],
    "row sums to 0.8": [[[0.5, 0.3]]],
    "NaN": [[[np.nan, 0.5]]],
    "negative": [[[1.5, -0.5]]],
}


@scorers
@pytest.mark.parametrize("bad", list(BAD))
def test_invalid_input_raises(fn, bad):
    with pytest.raises(InvalidInputError):
        fn(BAD[bad])
