"""Detection and segmentation scorers: values worked by hand, and every selector over them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from labelwise.errors import EmptyPoolError, InvalidInputError, MissingRequirementError
from labelwise.strategies import (
    STRATEGIES,
    Detections,
    QueryContext,
    SegmentationMaps,
    detection_box_disagreement,
    detection_entropy,
    detection_mean_confidence,
    detection_min_confidence,
    get_strategy,
    segmentation_boundary,
    segmentation_entropy,
)
from labelwise.strategies._detection import box_iou, matched_iou, top_classes


def _h2(p: float) -> float:
    """Binary entropy in bits, by scipy (the peer)."""
    return float(scipy_entropy([p, 1 - p], base=2))


# image 0: two boxes (0.9, 0.5); image 1: one box (0.2); image 2: no box
TWO_ONE_NONE = Detections(sample=[0, 1, 0], score=[0.9, 0.2, 0.5], n_samples=3)


def test_mean_and_min_confidence_by_hand():
    # image 0: 1 - (0.9 + 0.5)/2 = 0.3 and 1 - 0.5 = 0.5; image 1 (one box): 0.8 and 0.8
    np.testing.assert_allclose(detection_mean_confidence(TWO_ONE_NONE), [0.3, 0.8, 1.0])
    np.testing.assert_allclose(detection_min_confidence(TWO_ONE_NONE), [0.5, 0.8, 1.0])
    # the empty policy: min -> 0, skip -> NaN (left out by the strategy, never silently)
    np.testing.assert_allclose(detection_min_confidence(TWO_ONE_NONE, empty="min"), [0.5, 0.8, 0])
    skip = detection_mean_confidence(TWO_ONE_NONE, empty="skip")
    assert skip[:2].tolist() == pytest.approx([0.3, 0.8]) and math.isnan(skip[2])
    # candidates pick pool rows, in the order given
    np.testing.assert_allclose(detection_min_confidence(TWO_ONE_NONE, candidates=[2, 0]), [1, 0.5])
    with pytest.raises(InvalidInputError, match="empty must be one of max, min, skip"):
        detection_mean_confidence(TWO_ONE_NONE, empty="maximum")


def test_entropy_by_hand_and_against_scipy():
    det = Detections(
        sample=[0, 0, 1, 2],
        score=[0.9, 0.9, 0.9, 0.9],
        n_samples=4,
        class_scores=[[0.5, 0.5], [1.0, 0.0], [0.8, 0.2], [0.2, 0.2]],
    )
    got = detection_entropy(det)
    # image 0: (1 + 0) / 2; image 1: H(0.8) = 0.7219 bits; image 2: [0.2, 0.2] renormalised
    # to uniform -> 1; image 3: no box -> 1 (max)
    assert got.tolist() == pytest.approx([0.5, _h2(0.8), 1.0, 1.0])
    assert _h2(0.8) == pytest.approx(0.72193, abs=1e-5)
    with pytest.raises(MissingRequirementError, match="per-class scores"):
        detection_entropy(TWO_ONE_NONE)


def test_entropy_divides_by_log_c():
    det = Detections(sample=[0], score=[0.5], n_samples=1, class_scores=[[0.7, 0.2, 0.1]])
    want = scipy_entropy([0.7, 0.2, 0.1]) / math.log(3)
    assert detection_entropy(det)[0] == pytest.approx(want)


# Four boxes of height 1 on one row (x, y, w, h): intervals P [0, 10], Q [2, 12] in pass 0,
# R [1, 10], S [-2, 8] in pass 1. IoU(P, R) = 9/10, IoU(P, S) = 8/12, IoU(Q, R) = 8/11,
# IoU(Q, S) = 6/14. Greedy (largest first) pairs P-R then Q-S: 0.9 + 3/7 = 1.329; the
# Hungarian optimum pairs P-S and Q-R: 2/3 + 8/11 = 46/33 = 1.394.
P, Q, R, S = [0, 0, 10, 1], [2, 0, 10, 1], [1, 0, 9, 1], [-2, 0, 10, 1]


def test_iou_by_hand():
    iou = box_iou([P, Q], [R, S])
    np.testing.assert_allclose(iou, [[9 / 10, 8 / 12], [8 / 11, 6 / 14]])


def test_hungarian_matching_by_hand():
    assert matched_iou([P, Q], [R, S]) == pytest.approx((46 / 33) / 2)  # not greedy's 0.664
    # an unmatched box counts as one IoU of 0: (46/33) / (2 matches + 1 unmatched)
    far = [100, 100, 5, 5]
    assert matched_iou([P, Q, far], [R, S]) == pytest.approx((46 / 33) / 3)
    # a pair the assignment makes with IoU 0 is no match: both boxes count as unmatched
    assert matched_iou([P], [far]) == 0.0
    assert matched_iou([], []) == 1.0 and matched_iou([P], []) == 0.0


def test_box_disagreement_by_hand():
    # image 0: passes 0 and 1 as above, pass 2 empty: pairs (0,1) 23/33, (0,2) 0, (1,2) 0
    # image 1: one identical box in every pass: agreement 1 -> 0
    # image 2: no box in any pass -> empty policy
    boxes = [P, Q, R, S, [5, 5, 2, 2], [5, 5, 2, 2], [5, 5, 2, 2]]
    det = Detections(
        sample=[0, 0, 0, 0, 1, 1, 1],
        score=[0.5] * 7,
        n_samples=3,
        boxes=boxes,
        member=[0, 0, 1, 1, 0, 1, 2],
        n_members=3,
    )
    got = detection_box_disagreement(det)
    assert got.tolist() == pytest.approx([1 - (23 / 33) / 3, 0.0, 1.0])
    assert detection_box_disagreement(det, empty="min")[2] == 0.0
    single = Detections(sample=[0], score=[0.5], n_samples=1, boxes=[P])
    with pytest.raises(MissingRequirementError, match="at least 2"):
        detection_box_disagreement(single)


def test_segmentation_entropy_by_hand():
    # foreground map (H, W): binary entropies 1, 0, 0, 1 -> 0.5
    # class map (C=4, 1, 2): a uniform pixel (1) and a one-hot pixel (0) -> 0.5
    cls = np.zeros((4, 1, 2))
    cls[:, 0, 0] = 0.25
    cls[2, 0, 1] = 1.0
    maps = SegmentationMaps({0: np.array([[0.5, 1.0], [0.0, 0.5]]), 1: cls}, n_samples=3)
    assert segmentation_entropy(maps).tolist() == pytest.approx([0.5, 0.5, 1.0])
    assert segmentation_entropy(maps, empty="min")[2] == 0.0
    # a map that is not probabilities is refused with where it came from
    bad = SegmentationMaps({0: np.full((4, 1, 2), 0.5)}, n_samples=1, names={0: "m/a.npy"})
    with pytest.raises(InvalidInputError, match=r"m/a.npy: class probabilities .* sum to 1"):
        segmentation_entropy(bad)


def test_segmentation_boundary_by_hand():
    # mask p >= 0.5: F F F T T T; boundary pixels 2 and 3; band 1 adds pixels 1 and 4
    p = np.array([[0.1, 0.2, 0.4, 0.7, 0.9, 0.95]])
    maps = SegmentationMaps({0: p, 1: np.full((3, 3), 0.9)}, n_samples=2)
    band0 = segmentation_boundary(maps, band=0)
    band1 = segmentation_boundary(maps, band=1)
    assert band0[0] == pytest.approx((_h2(0.4) + _h2(0.7)) / 2)
    assert band1[0] == pytest.approx((_h2(0.2) + _h2(0.4) + _h2(0.7) + _h2(0.9)) / 4)
    # a map without any boundary (no object edge) gets the empty policy
    assert band0[1] == 1.0 and segmentation_boundary(maps, empty="min")[1] == 0.0
    # the boundary of a 2-D mask runs along both axes (a 2x2 object in a 4x4 map)
    sq = np.zeros((4, 4))
    sq[1:3, 1:3] = 0.8
    ring = SegmentationMaps({0: sq}, n_samples=1)
    # every pixel but the 4 corners touches the object's edge (4-neighbours): 4 object
    # pixels H(0.8) and 8 background pixels H(0) = 0
    assert segmentation_boundary(ring, band=0)[0] == pytest.approx(4 * _h2(0.8) / 12)


def _ctx(det=None, masks=None, n=None, X=None, labeled=(), cost=None):
    n = n or (det.n_samples if det is not None else masks.n_samples)
    lab = np.asarray(labeled, dtype=np.intp)
    return QueryContext(
        candidates=np.setdiff1d(np.arange(n), lab),
        labeled=lab,
        X=X,
        detections=det,
        masks=masks,
        cost=cost,
    )


def test_strategy_reason_names_the_scorer_and_numbers():
    sel = STRATEGIES["detection_min_confidence"].query(_ctx(TWO_ONE_NONE), 3, random_state=0)
    assert sel.indices.tolist() == [2, 1, 0]  # 1.0 (no box), 0.8, 0.5
    reasons = [p.reason for p in sel.picks()]
    assert reasons[0].startswith("no detection (empty='max')")
    assert reasons[1].startswith("1 box, min conf 0.20, mean conf 0.20")
    assert reasons[2].startswith("2 boxes, min conf 0.50, mean conf 0.70")
    assert "detection_min_confidence 0.500" in reasons[2]


def test_skip_leaves_images_out_and_reports_them():
    s = get_strategy("detection_mean_confidence", empty="skip")
    sel = s.query(_ctx(TWO_ONE_NONE), 3, random_state=0)
    assert sel.indices.tolist() == [1, 0]  # the image without a box is not picked ...
    assert sel.skipped.tolist() == [2]  # ... and is reported
    assert "1 image(s) without a prediction skipped" in sel.picks()[0].reason
    only_empty = Detections(sample=[], score=[], n_samples=2)
    with pytest.raises(EmptyPoolError, match="no candidate has a prediction"):
        s.query(_ctx(only_empty), 1)


def _street() -> Detections:
    # top class by the most confident box: 0 car, 1 car, 2 person, 3 person, 4 none
    return Detections(
        sample=[0, 0, 1, 2, 2, 3],
        score=[0.3, 0.4, 0.9, 0.6, 0.2, 0.7],
        label=[1, 0, 0, 1, 0, 1],
        n_samples=5,
        classes=("car", "person"),
    )


def test_top_classes_by_most_confident_box():
    assert top_classes(_street()).tolist() == ["car", "car", "person", "person", "(no detection)"]


def test_class_balance_on_predicted_object_classes():
    s = get_strategy("detection_min_confidence", selector="class_balance", empty="min")
    # scores 1 - min: 0.7, 0.1, 0.8, 0.3, 0 (empty=min): one car (0), one person (2), and
    # the empty image's class gets its share of 3 -> 0 (4) too
    sel = s.query(_ctx(_street()), 3, random_state=0)
    assert sorted(sel.indices.tolist()) == [0, 2, 4]
    assert "predicted class car" in sel.picks()[[p.index for p in sel.picks()].index(0)].reason
    sel = get_strategy(
        "detection_min_confidence", selector="class_balance", target={"person": 1.0}
    ).query(_ctx(_street()), 2, random_state=0)
    assert sorted(sel.indices.tolist()) == [2, 3]


def test_cost_is_the_predicted_number_of_boxes():
    # image 0: three boxes at 0.2 -> 0.8, cost 3 -> 0.267; image 1: one box at 0.4 -> 0.6,
    # cost 1 -> 0.6. By score 0 comes first; by score per box 1 does.
    det = Detections(sample=[0, 0, 0, 1], score=[0.2, 0.2, 0.2, 0.4], n_samples=2)
    assert STRATEGIES["detection_mean_confidence"].query(_ctx(det), 1).indices.tolist() == [0]
    sel = get_strategy("detection_mean_confidence", cost_lambda=1.0).query(_ctx(det), 1)
    assert sel.indices.tolist() == [1]
    np.testing.assert_allclose(sel.criteria["cost"], [3, 1])
    np.testing.assert_allclose(sel.criteria["detection_mean_confidence_per_cost"], [0.8 / 3, 0.6])
    # the loop's own per-sample cost wins over the box count
    sel = STRATEGIES["detection_mean_confidence"].query(_ctx(det, cost=np.array([1.0, 100.0])), 1)
    assert sel.indices.tolist() == [0]


def test_weighted_with_boxes_as_a_cost_criterion():
    # equal strengths, boxes preferred low: image 4 (score 1.0, 0 boxes) first
    s = get_strategy(
        "detection_mean_confidence",
        selector="weighted",
        strengths={"detection_mean_confidence": 1.0, "boxes": -1.0},
    )
    sel = s.query(_ctx(_street()), 1, random_state=0)
    assert sel.indices.tolist() == [4]
    assert set(sel.criteria) == {"detection_mean_confidence", "boxes"}
    with pytest.raises(InvalidInputError, match="unknown criterion 'margin'"):
        get_strategy("detection_mean_confidence", selector="weighted", strengths={"margin": 1})


def test_k_center_greedy_among_the_most_uncertain():
    # 6 images on a line; uncertain ones: 0, 1, 5 (min conf 0.1); 2, 3, 4 certain (0.95).
    # Pre-filter the top 3, then core-set from labeled {2}: farthest is 5 (x=50), then 0.
    det = Detections(
        sample=[0, 1, 2, 3, 4, 5], score=[0.1, 0.1, 0.95, 0.95, 0.95, 0.1], n_samples=6
    )
    X = np.array([[0.0], [1.0], [20.0], [21.0], [22.0], [50.0]])
    s = get_strategy("detection_min_confidence", selector="k_center_greedy", n_candidates=3)
    sel = s.query(_ctx(det, X=X, labeled=[2]), 2, random_state=0)
    assert sel.indices.tolist() == [5, 0]
    with pytest.raises(MissingRequirementError, match="embeddings"):
        s.query(_ctx(det), 2, random_state=0)


def test_segmentation_strategy_reason():
    maps = SegmentationMaps({0: np.array([[0.5, 1.0], [0.0, 0.5]])}, n_samples=2)
    sel = STRATEGIES["segmentation_entropy"].query(_ctx(masks=maps), 2, random_state=0)
    assert sel.indices.tolist() == [1, 0]
    first, second = sel.picks()
    assert first.reason.startswith("no predicted map (empty='max')")
    assert second.reason.startswith("mean pixel entropy 0.50 over 4 pixels")


def test_bad_parameters_are_named():
    with pytest.raises(InvalidInputError, match="selector must be one of"):
        get_strategy("detection_entropy", selector="kmeans")
    with pytest.raises(InvalidInputError, match="has no parameter 'band'"):
        get_strategy("detection_entropy", band=2)
    with pytest.raises(InvalidInputError, match="band must be a whole number"):
        get_strategy("segmentation_boundary", band=-1)


def _brute_agreement(a: list, b: list) -> float:
    """Matched IoU by trying every one-to-one pairing (no scipy): the peer computation."""
    import itertools

    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    best_sum, best_m = -1.0, 0
    for perm in itertools.permutations(range(len(large)), len(small)):
        ious = [box_iou([small[k]], [large[j]])[0, 0] for k, j in enumerate(perm)]
        if sum(ious) > best_sum + 1e-12:
            best_sum, best_m = sum(ious), sum(v > 0 for v in ious)
    return best_sum / (len(a) + len(b) - best_m)


def test_box_disagreement_against_brute_force():
    rng = np.random.default_rng(3)
    sample, member, boxes = [], [], []
    per = {}
    for img in range(12):
        for t in range(3):
            k = int(rng.integers(0, 4))
            bs = np.column_stack([rng.random((k, 2)) * 20, 2 + rng.random((k, 2)) * 10])
            per[(img, t)] = bs.tolist()
            sample += [img] * k
            member += [t] * k
            boxes += bs.tolist()
    det = Detections(
        sample=sample,
        score=np.full(len(sample), 0.5),
        n_samples=12,
        boxes=boxes,
        member=member,
        n_members=3,
    )
    got = detection_box_disagreement(det)
    for img in range(12):
        if not any(per[(img, t)] for t in range(3)):
            assert got[img] == 1.0  # no box in any pass: empty="max"
            continue
        pairs = [(0, 1), (0, 2), (1, 2)]
        want = 1 - sum(_brute_agreement(per[(img, s)], per[(img, u)]) for s, u in pairs) / 3
        assert got[img] == pytest.approx(want), img
