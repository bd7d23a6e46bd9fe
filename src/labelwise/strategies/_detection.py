"""Detection and segmentation scorers over a detector's predictions (higher = label first).

Every score lies in [0, 1]. The boxes of a pool come as a :class:`Detections`
(one row per predicted box, each tied to the pool row of its image); the
per-pixel maps of a segmentation model as a :class:`SegmentationMaps`.

- ``detection_mean_confidence``: ``1 - mean(box confidence)`` over the image's boxes;
- ``detection_min_confidence``: ``1 - min(box confidence)``;
- ``detection_entropy``: mean over the boxes of the entropy of each box's class
  scores (renormalised to sum to 1), divided by ``log C``;
- ``detection_box_disagreement``: ``1 - mean matched IoU`` between the passes of a
  committee or of MC dropout (see :func:`detection_box_disagreement`);
- ``segmentation_entropy``: mean pixel entropy of the predicted map, divided by
  ``log C`` (``log 2`` for a foreground-probability map);
- ``segmentation_boundary``: mean pixel entropy inside a band of ``band`` pixels
  around the boundaries of the predicted mask (see :func:`segmentation_boundary`).

With committee or MC-dropout passes the confidence and entropy scorers pool the
boxes of every pass. An image without any predicted box (or map, or mask
boundary) gets the ``empty`` policy: ``"max"`` (the default: maximally uncertain,
1.0), ``"min"`` (0.0) or ``"skip"`` (NaN here: the strategy leaves the image out
of the batch and reports how many it left out; it never drops one silently).

The box scorers are vectorised over the pool (grouped by image with ``bincount``
and ``reduceat``), except the Hungarian matching of ``detection_box_disagreement``,
which runs once per image and pair of passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from labelwise._validation import check_count_params
from labelwise.errors import EmptyPoolError, InvalidInputError, MissingRequirementError, shorten
from labelwise.strategies._novelty import novelty, representativeness
from labelwise.strategies._selectors import (
    class_balance,
    k_center_greedy_with_gain,
    top_positions,
    weighted,
)

__all__ = [
    "Detections",
    "SegmentationMaps",
    "DETECTION_SCORERS",
    "SEGMENTATION_SCORERS",
    "EMPTY_POLICIES",
    "SELECTORS",
    "detection_mean_confidence",
    "detection_min_confidence",
    "detection_entropy",
    "detection_box_disagreement",
    "segmentation_entropy",
    "segmentation_boundary",
    "box_counts",
    "top_classes",
    "detection_query",
    "SUMMARIES",
    "PARAM_NAMES",
]

EMPTY_POLICIES = ("max", "min", "skip")
#: How a detection strategy turns its scores into a batch.
SELECTORS = ("top_k", "k_center_greedy", "weighted", "class_balance")
#: The class of an image without any box, for ``class_balance``.
NO_DETECTION = "(no detection)"


@dataclass(frozen=True)
class Detections:
    """Predicted boxes of a pool of images: one row per box, sorted by image.

    Parameters
    ----------
    sample : array-like of int, shape (n_boxes,)
        Pool row of each box's image.
    score : array-like of float, shape (n_boxes,)
        Box confidence in [0, 1].
    n_samples : int
        Size of the pool (rows of ``X``); images without a box have no row.
    label : array-like of int, shape (n_boxes,), optional
        Predicted class of each box, an index into ``classes`` (default 0).
    boxes : array-like of shape (n_boxes, 4), optional
        ``x, y, w, h`` (top-left corner, width, height), in any unit shared by
        the file (pixels, or YOLO's normalised units): only IoU, which does not
        change when an axis is scaled, is used.
    class_scores : array-like of shape (n_boxes, n_classes), optional
        Per-class scores of each box (for ``detection_entropy``).
    member : array-like of int, shape (n_boxes,), optional
        Committee member or MC-dropout pass of each box, 0 .. n_members - 1.
    n_members : int, default=1
    classes : tuple of str, default=()
        Name of each class index.
    """

    sample: np.ndarray
    score: np.ndarray
    n_samples: int
    label: np.ndarray | None = None
    boxes: np.ndarray | None = None
    class_scores: np.ndarray | None = None
    member: np.ndarray | None = None
    n_members: int = 1
    classes: tuple[str, ...] = ()

    def __post_init__(self):
        sample = np.asarray(self.sample, dtype=np.intp).ravel()
        n = sample.size
        order = np.argsort(sample, kind="stable")

        def arr(v, shape, dtype):
            if v is None:
                return None
            a = np.asarray(v, dtype=dtype)
            if a.shape[:1] != (n,) or (shape is not None and a.shape[1:] != shape):
                raise InvalidInputError(
                    f"detections: an array has shape {a.shape}; expected {n} row(s)"
                    + (f" of shape {shape}" if shape else "")
                    + "."
                )
            return a[order]

        score = arr(self.score, (), np.float64)
        if n and not (np.isfinite(score).all() and score.min() >= 0 and score.max() <= 1):
            raise InvalidInputError("detections: box confidences must lie within [0, 1].")
        if n and (sample.min() < 0 or sample.max() >= self.n_samples):
            raise InvalidInputError("detections: a box's image is outside the pool.")
        cs = self.class_scores
        object.__setattr__(self, "sample", sample[order])
        object.__setattr__(self, "score", score)
        object.__setattr__(
            self,
            "label",
            np.zeros(n, dtype=np.intp) if self.label is None else arr(self.label, (), np.intp),
        )
        object.__setattr__(self, "boxes", arr(self.boxes, (4,), np.float64))
        cs = None if cs is None else np.asarray(cs, dtype=np.float64)
        if cs is not None and cs.ndim != 2:
            raise InvalidInputError(f"detections: class scores have shape {cs.shape}.")
        object.__setattr__(self, "class_scores", None if cs is None else arr(cs, None, np.float64))
        member = arr(self.member, (), np.intp)
        object.__setattr__(self, "member", member)
        if member is not None and n and (member.min() < 0 or member.max() >= self.n_members):
            raise InvalidInputError("detections: a member index is outside 0 .. n_members - 1.")
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))

    @property
    def n_boxes(self) -> int:
        return int(self.sample.size)


@dataclass(frozen=True)
class SegmentationMaps:
    """Per-pixel predictions of a pool of images, loaded one image at a time.

    Parameters
    ----------
    maps : mapping of int to ndarray or callable
        Pool row -> its map, or a function that loads it: shape ``(C, H, W)``
        (class probabilities summing to 1 over C) or ``(H, W)`` (foreground
        probability). An image without a map has no prediction (``empty``).
    n_samples : int
        Size of the pool.
    """

    maps: Mapping[int, np.ndarray | Callable[[], np.ndarray]]
    n_samples: int
    names: Mapping[int, str] = field(default_factory=dict)

    def load(self, row: int) -> np.ndarray | None:
        """The checked map of pool row ``row`` (float64), or None when it has none."""
        m = self.maps.get(int(row))
        if m is None:
            return None
        a = np.asarray(m() if callable(m) else m, dtype=np.float64)
        where = self.names.get(int(row), f"pool row {row}")
        if a.ndim not in (2, 3) or a.size == 0:
            raise InvalidInputError(
                f"{where}: a segmentation map has shape {a.shape}; expected (C, H, W) class "
                "probabilities or (H, W) foreground probabilities."
            )
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise InvalidInputError(f"{where}: segmentation probabilities must lie within [0, 1].")
        if a.ndim == 3:
            sums = a.sum(axis=0)
            if np.abs(sums - 1).max() > 1e-3:
                raise InvalidInputError(
                    f"{where}: class probabilities of shape {a.shape} do not sum to 1 over "
                    "the first axis (C); give softmax outputs, or (H, W) foreground "
                    "probabilities."
                )
        return a


def _check_empty(empty) -> str:
    if empty not in EMPTY_POLICIES:
        raise InvalidInputError(
            f"empty must be one of {', '.join(EMPTY_POLICIES)}, got {shorten(empty)}."
        )
    return empty


def _fill(values: np.ndarray, has: np.ndarray, empty: str) -> np.ndarray:
    """Images without a prediction get 1.0 (max), 0.0 (min) or NaN (skip)."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[~has] = {"max": 1.0, "min": 0.0, "skip": np.nan}[_check_empty(empty)]
    return out


def _candidates(n_samples: int, candidates) -> np.ndarray:
    if candidates is None:
        return np.arange(n_samples, dtype=np.intp)
    c = np.asarray(candidates, dtype=np.intp).ravel()
    if c.size and (c.min() < 0 or c.max() >= n_samples):
        raise InvalidInputError("candidates must be pool rows of the predictions.")
    return c


def _need_detections(det) -> Detections:
    if not isinstance(det, Detections):
        raise MissingRequirementError(
            "this scorer needs a detector's predicted boxes (Detections); give --predictions FILE."
        )
    return det


def box_counts(detections: Detections, *, candidates=None) -> np.ndarray:
    """Predicted boxes per image (the mean over the passes when there are several).

    Examples
    --------
    >>> box_counts(Detections(sample=[0, 0, 2], score=[0.9, 0.5, 0.7], n_samples=3)).tolist()
    [2.0, 0.0, 1.0]
    """
    det = _need_detections(detections)
    cand = _candidates(det.n_samples, candidates)
    counts = np.bincount(det.sample, minlength=det.n_samples).astype(np.float64)
    return counts[cand] / det.n_members


def _groups(det: Detections, cand: np.ndarray):
    """(count per candidate, start of each candidate's boxes in the sorted rows)."""
    counts = np.bincount(det.sample, minlength=det.n_samples)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return counts[cand], starts[cand]


def detection_mean_confidence(detections, *, candidates=None, empty: str = "max") -> np.ndarray:
    """``1 - mean box confidence`` of each image (Yuan et al.'s mean object confidence).

    Parameters
    ----------
    detections : Detections
    candidates : array-like of int, default=None
        Pool rows to score; default every image.
    empty : {"max", "min", "skip"}, default="max"
        Score of an image without a box: 1.0, 0.0 or NaN (left out of the batch).

    Returns
    -------
    scores : ndarray of shape (n_candidates,)

    References
    ----------
    Haussmann, E. et al. (2020). Scalable active learning for object detection. IEEE IV.

    Examples
    --------
    >>> d = Detections(sample=[0, 0, 1], score=[0.9, 0.5, 0.2], n_samples=3)
    >>> detection_mean_confidence(d).round(3).tolist()
    [0.3, 0.8, 1.0]
    """
    det = _need_detections(detections)
    cand = _candidates(det.n_samples, candidates)
    counts = np.bincount(det.sample, minlength=det.n_samples)[cand]
    sums = np.bincount(det.sample, weights=det.score, minlength=det.n_samples)[cand]
    has = counts > 0
    mean = np.divide(sums, counts, out=np.zeros(cand.size), where=has)
    return _fill(1.0 - mean, has, empty)


def _group_min(values: np.ndarray, det: Detections, cand: np.ndarray) -> tuple:
    # over the whole pool, where the starts of the non-empty groups strictly increase
    # (reduceat's contract), then in the candidates' order
    counts, starts = _groups(det, np.arange(det.n_samples))
    has = counts > 0
    out = np.zeros(det.n_samples)
    if has.any():
        out[has] = np.minimum.reduceat(values, starts[has])
    return out[cand], has[cand]


def detection_min_confidence(detections, *, candidates=None, empty: str = "max") -> np.ndarray:
    """``1 - lowest box confidence`` of each image: its least certain object.

    Parameters
    ----------
    detections : Detections
    candidates : array-like of int, default=None
    empty : {"max", "min", "skip"}, default="max"

    Returns
    -------
    scores : ndarray of shape (n_candidates,)

    References
    ----------
    Brust, C.-A., Käding, C. and Denzler, J. (2019). Active learning for deep object
    detection. VISAPP.

    Examples
    --------
    >>> d = Detections(sample=[0, 0, 1], score=[0.9, 0.5, 0.2], n_samples=3)
    >>> detection_min_confidence(d).round(3).tolist()
    [0.5, 0.8, 1.0]
    """
    det = _need_detections(detections)
    cand = _candidates(det.n_samples, candidates)
    low, has = _group_min(det.score, det, cand)
    return _fill(1.0 - low, has, empty)


def box_entropy(class_scores) -> np.ndarray:
    """Entropy of each box's class scores (renormalised), divided by ``log C``.

    Examples
    --------
    >>> box_entropy([[0.5, 0.5], [1.0, 0.0], [0.2, 0.2]]).round(3).tolist()
    [1.0, 0.0, 1.0]
    """
    cs = np.asarray(class_scores, dtype=np.float64)
    n_classes = cs.shape[1]
    if n_classes < 2:
        return np.zeros(cs.shape[0])
    total = cs.sum(axis=1, keepdims=True)
    p = np.divide(cs, total, out=np.full_like(cs, 1.0 / n_classes), where=total > 0)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.clip(0.0 - plogp.sum(axis=1) / np.log(n_classes), 0.0, 1.0)


def detection_entropy(detections, *, candidates=None, empty: str = "max") -> np.ndarray:
    """Mean over an image's boxes of the entropy of each box's class scores.

    A box's scores are renormalised to sum to 1 (a sigmoid head's scores need
    not) and its entropy divided by ``log C``, so every score lies in [0, 1].

    Parameters
    ----------
    detections : Detections
        With ``class_scores`` of shape (n_boxes, n_classes).
    candidates : array-like of int, default=None
    empty : {"max", "min", "skip"}, default="max"

    Returns
    -------
    scores : ndarray of shape (n_candidates,)

    References
    ----------
    Roy, S., Unmesh, A. and Namboodiri, V. P. (2018). Deep active learning for object
    detection. BMVC.

    Examples
    --------
    >>> d = Detections(sample=[0, 0], score=[0.9, 0.8], n_samples=2,
    ...                class_scores=[[0.5, 0.5], [1.0, 0.0]])
    >>> detection_entropy(d).round(3).tolist()
    [0.5, 1.0]
    """
    det = _need_detections(detections)
    if det.class_scores is None:
        raise MissingRequirementError(
            "detection_entropy needs per-class scores for every box: a 'scores' (or "
            "'class_scores') list per box in COCO results or a table, or the class scores "
            "after the confidence on each YOLO line."
        )
    cand = _candidates(det.n_samples, candidates)
    h = box_entropy(det.class_scores)
    counts = np.bincount(det.sample, minlength=det.n_samples)[cand]
    sums = np.bincount(det.sample, weights=h, minlength=det.n_samples)[cand]
    has = counts > 0
    return _fill(np.divide(sums, counts, out=np.zeros(cand.size), where=has), has, empty)


def box_iou(a, b) -> np.ndarray:
    """IoU matrix of boxes ``x, y, w, h``: shape (len(a), len(b)).

    Examples
    --------
    >>> box_iou([[0, 0, 2, 2]], [[1, 0, 2, 2], [5, 5, 1, 1]]).round(3).tolist()
    [[0.333, 0.0]]
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = np.clip(a[:, 2], 0, None) * np.clip(a[:, 3], 0, None)
    area_b = np.clip(b[:, 2], 0, None) * np.clip(b[:, 3], 0, None)
    union = area_a[:, None] + area_b[None] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def matched_iou(a, b) -> float:
    """Agreement of two passes' boxes on one image: matched IoU over all boxes.

    The boxes are paired one-to-one by the Hungarian algorithm maximising the
    summed IoU (:func:`scipy.optimize.linear_sum_assignment`); a pair with IoU 0
    is no match. With ``m`` matches and ``u`` boxes left unmatched in either pass
    the agreement is ``sum(IoU of the matches) / (m + u)``: every unmatched box
    counts as one IoU of 0. Two empty passes agree (1.0); one empty pass against
    boxes gives 0.0.

    Examples
    --------
    >>> matched_iou([[0, 0, 2, 2], [10, 10, 2, 2]], [[1, 0, 2, 2]])  # (1/3) / (1 + 1)
    0.16666666666666666
    """
    from scipy.optimize import linear_sum_assignment

    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if a.shape[0] == 0 and b.shape[0] == 0:
        return 1.0
    if a.shape[0] == 0 or b.shape[0] == 0:
        return 0.0
    iou = box_iou(a, b)
    rows, cols = linear_sum_assignment(iou, maximize=True)
    m_iou = iou[rows, cols]
    matched = m_iou > 0
    m = int(matched.sum())
    unmatched = a.shape[0] + b.shape[0] - 2 * m
    return float(m_iou[matched].sum() / (m + unmatched))


def detection_box_disagreement(detections, *, candidates=None, empty: str = "max") -> np.ndarray:
    """``1 - mean matched IoU`` between committee members or MC-dropout passes.

    For every image and every pair of passes ``(s, t)``, ``s < t``, the two
    passes' boxes are matched one-to-one by the Hungarian algorithm on IoU
    (class-agnostic: this is localisation disagreement) and their agreement is
    :func:`matched_iou` (the summed IoU of the matches over matches plus
    unmatched boxes, so an unmatched box counts as IoU 0). The image scores
    ``1 -`` the mean agreement over the ``T (T - 1) / 2`` pairs. An image where
    no pass predicts a box gets the ``empty`` policy.

    Parameters
    ----------
    detections : Detections
        With ``boxes``, ``member`` and ``n_members >= 2``.
    candidates : array-like of int, default=None
    empty : {"max", "min", "skip"}, default="max"

    Returns
    -------
    scores : ndarray of shape (n_candidates,)

    References
    ----------
    Kao, C.-C., Lee, T.-Y., Sen, P. and Liu, M.-Y. (2018). Localization-aware active
    learning for object detection. ACCV.

    Examples
    --------
    >>> d = Detections(sample=[0, 0, 0], score=[0.9, 0.9, 0.9], n_samples=2,
    ...                boxes=[[0, 0, 2, 2], [10, 10, 2, 2], [1, 0, 2, 2]],
    ...                member=[0, 0, 1], n_members=2)
    >>> detection_box_disagreement(d).round(4).tolist()
    [0.8333, 1.0]
    """
    det = _need_detections(detections)
    if det.boxes is None or det.member is None or det.n_members < 2:
        raise MissingRequirementError(
            "detection_box_disagreement needs the boxes of at least 2 committee members or "
            "MC-dropout passes: a 'pass' (or 'member') field per box in COCO results or a "
            "table, or one YOLO folder per pass."
        )
    from scipy.optimize import linear_sum_assignment

    cand = _candidates(det.n_samples, candidates)
    counts, starts = _groups(det, cand)
    has = counts > 0
    out = np.zeros(cand.size)
    t = det.n_members
    pairs = [(s, u) for s in range(t) for u in range(s + 1, t)]
    passes = np.arange(t + 1)
    for i in np.flatnonzero(has).tolist():
        lo = int(starts[i])
        rows = slice(lo, lo + int(counts[i]))
        order = np.argsort(det.member[rows], kind="stable")
        boxes = det.boxes[rows][order]
        cut = np.searchsorted(det.member[rows][order], passes).tolist()
        iou = box_iou(boxes, boxes)  # every pair of the image's boxes at once
        total = 0.0
        for s, u in pairs:  # matched_iou on slices of the one IoU matrix
            na, nb = cut[s + 1] - cut[s], cut[u + 1] - cut[u]
            if na == 0 or nb == 0:
                total += 1.0 if na == nb else 0.0
                continue
            sub = iou[cut[s] : cut[s + 1], cut[u] : cut[u + 1]]
            if na == 1 or nb == 1:  # one box: the assignment is the best overlap
                best = float(sub.max())
                m = 1 if best > 0 else 0
                total += best / (na + nb - m)
                continue
            r, c = linear_sum_assignment(sub, maximize=True)
            matched = sub[r, c]
            m = int((matched > 0).sum())
            total += float(matched.sum()) / (na + nb - m)
        out[i] = 1.0 - total / len(pairs)
    return _fill(out, has, empty)


def _pixel_entropy(p: np.ndarray) -> np.ndarray:
    """Per-pixel entropy in [0, 1]: over C classes / log C, or binary / log 2 for (H, W)."""
    if p.ndim == 2:
        p = np.stack([1.0 - p, p])
    n_classes = p.shape[0]
    if n_classes < 2:
        return np.zeros(p.shape[1:])
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.clip(0.0 - plogp.sum(axis=0) / np.log(n_classes), 0.0, 1.0)


def _need_maps(maps) -> SegmentationMaps:
    if not isinstance(maps, SegmentationMaps):
        raise MissingRequirementError(
            "this scorer needs per-pixel predictions (SegmentationMaps); give --predictions "
            "with .npy/.npz maps or COCO results with segmentation masks."
        )
    return maps


def segmentation_entropy(maps, *, candidates=None, empty: str = "max") -> np.ndarray:
    """Mean pixel entropy of each image's predicted map, in [0, 1].

    A ``(C, H, W)`` map's pixel entropy is ``-sum_c p log p / log C``; an
    ``(H, W)`` foreground map's is the binary entropy ``/ log 2``. The mean runs
    over every pixel of the map. An image without a map gets ``empty``.

    Parameters
    ----------
    maps : SegmentationMaps
    candidates : array-like of int, default=None
    empty : {"max", "min", "skip"}, default="max"

    Returns
    -------
    scores : ndarray of shape (n_candidates,)

    References
    ----------
    Gal, Y., Islam, R. and Ghahramani, Z. (2017). Deep Bayesian active learning with
    image data. ICML.

    Examples
    --------
    >>> m = SegmentationMaps({0: [[0.5, 1.0], [0.0, 0.5]]}, n_samples=2)
    >>> segmentation_entropy(m).tolist()
    [0.5, 1.0]
    """
    m = _need_maps(maps)
    _check_empty(empty)
    cand = _candidates(m.n_samples, candidates)
    out, has = np.zeros(cand.size), np.zeros(cand.size, dtype=bool)
    for i, row in enumerate(cand.tolist()):
        p = m.load(row)
        if p is not None:
            out[i], has[i] = float(_pixel_entropy(p).mean()), True
    return _fill(out, has, empty)


def boundary_band(labels: np.ndarray, band: int) -> np.ndarray:
    """Pixels within ``band`` pixels (Chebyshev distance) of a label boundary.

    A pixel is on the boundary when one of its 4 neighbours has another label
    (both sides of an edge are marked); the band is the boundary dilated
    ``band`` times by a 3 x 3 square.

    Examples
    --------
    >>> boundary_band(np.array([[0, 0, 1, 1]]), 0).tolist()
    [[False, True, True, False]]
    """
    from scipy.ndimage import binary_dilation

    lab = np.asarray(labels)
    edge = np.zeros(lab.shape, dtype=bool)
    dx = lab[:, 1:] != lab[:, :-1]
    dy = lab[1:, :] != lab[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    if band > 0 and edge.any():
        edge = binary_dilation(edge, structure=np.ones((3, 3), dtype=bool), iterations=band)
    return edge


def segmentation_boundary(
    maps, *, candidates=None, empty: str = "max", band: int = 2
) -> np.ndarray:
    """Mean pixel entropy in a band around the predicted mask's boundaries.

    The predicted mask is the arg-max class of a ``(C, H, W)`` map, or
    ``p >= 0.5`` of an ``(H, W)`` foreground map; its boundary pixels (see
    :func:`boundary_band`) are widened by ``band`` pixels on each side and the
    score is the mean pixel entropy (as in :func:`segmentation_entropy`) inside
    that band: high when the model is unsure exactly where its objects end. A
    map without any boundary (one class everywhere, no object) or without a map
    gets ``empty``.

    Parameters
    ----------
    maps : SegmentationMaps
    candidates : array-like of int, default=None
    empty : {"max", "min", "skip"}, default="max"
    band : int, default=2
        Half-width of the band in pixels (0: the boundary pixels only).

    Returns
    -------
    scores : ndarray of shape (n_candidates,)

    References
    ----------
    Kim, H. et al. (2023). Adaptive superpixel for active learning in semantic
    segmentation (boundary uncertainty). ICCV.

    Examples
    --------
    >>> m = SegmentationMaps({0: [[0.0, 0.5, 0.5, 1.0]]}, n_samples=1)
    >>> segmentation_boundary(m, band=0).tolist()  # mask 0 1 1 1: pixels 0 and 1, H 0 and 1
    [0.5]
    """
    m = _need_maps(maps)
    _check_empty(empty)
    if isinstance(band, bool) or not isinstance(band, int | np.integer) or band < 0:
        raise InvalidInputError(f"band must be a whole number of pixels >= 0, got {shorten(band)}.")
    cand = _candidates(m.n_samples, candidates)
    out, has = np.zeros(cand.size), np.zeros(cand.size, dtype=bool)
    for i, row in enumerate(cand.tolist()):
        p = m.load(row)
        if p is None:
            continue
        labels = (p >= 0.5) if p.ndim == 2 else p.argmax(axis=0)
        zone = boundary_band(labels, int(band))
        if zone.any():
            out[i], has[i] = float(_pixel_entropy(p)[zone].mean()), True
    return _fill(out, has, empty)


DETECTION_SCORERS: dict[str, Callable] = {
    "detection_mean_confidence": detection_mean_confidence,
    "detection_min_confidence": detection_min_confidence,
    "detection_entropy": detection_entropy,
    "detection_box_disagreement": detection_box_disagreement,
}
SEGMENTATION_SCORERS: dict[str, Callable] = {
    "segmentation_entropy": segmentation_entropy,
    "segmentation_boundary": segmentation_boundary,
}


def top_classes(detections: Detections, *, candidates=None) -> np.ndarray:
    """Each image's predicted class: that of its most confident box (``NO_DETECTION`` if none).

    Examples
    --------
    >>> d = Detections(sample=[0, 0], score=[0.4, 0.9], label=[0, 1], n_samples=2,
    ...                classes=("cat", "dog"))
    >>> top_classes(d).tolist()
    ['dog', '(no detection)']
    """
    det = _need_detections(detections)
    cand = _candidates(det.n_samples, candidates)
    names = np.array([*det.classes, NO_DETECTION], dtype=object)
    if det.label.size and det.label.max() >= len(det.classes):
        names = np.array([*map(str, range(int(det.label.max()) + 1)), NO_DETECTION], dtype=object)
    out = np.full(cand.size, NO_DETECTION, dtype=object)
    counts, starts = _groups(det, cand)
    has = counts > 0
    if has.any():
        # the highest score per image: sort by (image, score) and take each group's last row
        order = np.lexsort((det.score, det.sample))
        last = np.cumsum(np.bincount(det.sample, minlength=det.n_samples)) - 1
        best = order[last[cand[has]]]
        out[has] = names[det.label[best]]
    return out


# ----------------------------------------------------------------------------- selection

#: Registry entries: name -> (what it needs from the loop, one-line summary).
SUMMARIES = {
    "detection_mean_confidence": ("detections", "1 - mean box confidence of the image"),
    "detection_min_confidence": ("detections", "1 - lowest box confidence of the image"),
    "detection_entropy": ("detections", "mean over boxes of the class-score entropy / log C"),
    "detection_box_disagreement": (
        "detections",
        "1 - mean Hungarian-matched IoU between committee or MC-dropout passes",
    ),
    "segmentation_entropy": ("masks", "mean pixel entropy / log C of the predicted map"),
    "segmentation_boundary": (
        "masks",
        "mean pixel entropy in a band around the predicted mask's boundaries",
    ),
}
#: Parameters every detection and segmentation strategy reads.
PARAM_NAMES = frozenset(
    {"empty", "selector", "strengths", "metadata", "target", "n_candidates", "cost_lambda"}
)


def _fmt(v: float) -> str:
    return f"{v:.2f}"


def _pick_notes(name: str, ctx, pos_rows: np.ndarray, empty: str, params: Mapping) -> list[str]:
    """One text per pick with the numbers behind its score, e.g. '3 boxes, min conf 0.21'."""
    if name in SEGMENTATION_SCORERS:
        maps = ctx.masks
        notes = []
        for row in pos_rows.tolist():
            p = maps.load(row)
            if p is None:
                notes.append(f"no predicted map (empty={empty!r})")
                continue
            h = _pixel_entropy(p)
            if name == "segmentation_entropy":
                notes.append(f"mean pixel entropy {_fmt(float(h.mean()))} over {h.size} pixels")
            else:
                labels = (p >= 0.5) if p.ndim == 2 else p.argmax(axis=0)
                zone = boundary_band(labels, int(params.get("band", 2)))
                notes.append(
                    f"boundary-band entropy {_fmt(float(h[zone].mean()))} over {int(zone.sum())} "
                    f"pixels (whole map {_fmt(float(h.mean()))})"
                    if zone.any()
                    else f"no mask boundary (empty={empty!r})"
                )
        return notes
    det = ctx.detections
    n_boxes = box_counts(det, candidates=pos_rows)
    low = 1 - detection_min_confidence(det, candidates=pos_rows, empty="min")
    mean = 1 - detection_mean_confidence(det, candidates=pos_rows, empty="min")
    extra = None
    if name == "detection_entropy":
        extra = detection_entropy(det, candidates=pos_rows, empty="min")
    elif name == "detection_box_disagreement":
        extra = 1 - detection_box_disagreement(det, candidates=pos_rows, empty="min")
    notes = []
    for k in range(pos_rows.size):
        if n_boxes[k] == 0:
            notes.append(f"no detection (empty={empty!r})")
            continue
        per = " per pass" if det.n_members > 1 else ""
        text = (
            f"{n_boxes[k]:g} box{'es' if n_boxes[k] != 1 else ''}{per}, "
            f"min conf {_fmt(low[k])}, mean conf {_fmt(mean[k])}"
        )
        if name == "detection_entropy":
            text += f", mean class entropy {_fmt(extra[k])}"
        elif name == "detection_box_disagreement":
            text += f", mean matched IoU {_fmt(extra[k])} over {det.n_members} passes"
        notes.append(text)
    return notes


@dataclass
class DetectionBatch:
    """What :func:`detection_query` chose; the registry wraps it into a ``Selection``."""

    indices: np.ndarray
    candidates: np.ndarray
    criteria: dict
    at_pick: dict
    pick_notes: list[str]
    skipped: np.ndarray
    note: str = ""


def needs_X(params: Mapping) -> bool:
    """Whether a detection strategy with these parameters reads the embeddings ``X``."""
    selector = params.get("selector", "top_k")
    if selector == "k_center_greedy":
        return True
    if selector == "weighted":
        strengths = params.get("strengths") or {"novelty": 0.5}
        return bool({"novelty", "diversity"} & set(strengths))
    return False


def check_params(name: str, params: Mapping) -> None:
    """Refuse values a detection strategy cannot use (names are checked by the registry)."""
    if "empty" in params:
        _check_empty(params["empty"])
    sel = params.get("selector", "top_k")
    if sel not in SELECTORS:
        raise InvalidInputError(
            f"selector must be one of {', '.join(SELECTORS)}, got {shorten(sel)}."
        )
    check_count_params(params, ("n_candidates",))
    if "metadata" in params and not isinstance(params["metadata"] or {}, Mapping):
        raise InvalidInputError("metadata must map criterion names to one value per sample.")
    band = params.get("band") if name == "segmentation_boundary" else None
    if band is not None and (isinstance(band, bool) or not isinstance(band, int) or band < 0):
        raise InvalidInputError(f"band must be a whole number of pixels >= 0, got {shorten(band)}.")
    strengths = params.get("strengths")
    if strengths is not None:
        if not isinstance(strengths, Mapping):
            raise InvalidInputError(
                f"strengths must map criterion names to numbers, got {shorten(strengths)}."
            )
        known = [name, "novelty", "diversity", "boxes", *(params.get("metadata") or {})]
        for c, v in strengths.items():
            if c not in known:
                raise InvalidInputError(
                    f"strengths: unknown criterion {shorten(c)}; choose from {', '.join(known)}."
                )
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
                raise InvalidInputError(f"strengths: {c} = {shorten(v)} is not a number.")


def detection_query(name: str, ctx, b: int, rng: np.random.Generator, params: Mapping):
    """Score the candidates with scorer ``name`` and select ``b`` by ``params['selector']``.

    Parameters (all optional): ``empty`` (``max``/``min``/``skip``), ``selector``
    (``top_k``, ``k_center_greedy``: the farthest-first core-set on ``X`` among
    the ``n_candidates`` (default ``10 * b``) highest scores; ``weighted``:
    rank-normalised ``strengths`` over the score, ``novelty``, ``diversity``,
    ``boxes`` and ``metadata`` columns, default ``{name: 1, novelty: 0.5}``;
    ``class_balance``: equal share, or ``target`` ratios, per predicted class,
    the class of the image's most confident box), ``cost_lambda`` (rank by
    ``score / cost**cost_lambda`` where cost is the loop's per-sample cost, or
    else the predicted number of boxes, at least 1), and ``band`` for
    ``segmentation_boundary``.
    """
    check_params(name, params)
    empty = params.get("empty", "max")
    selector = params.get("selector", "top_k")
    if name in SEGMENTATION_SCORERS:
        kw = {"band": int(params.get("band", 2))} if name == "segmentation_boundary" else {}
        s = SEGMENTATION_SCORERS[name](ctx.masks, candidates=ctx.candidates, empty=empty, **kw)
        boxes = None
    else:
        s = DETECTION_SCORERS[name](ctx.detections, candidates=ctx.candidates, empty=empty)
        boxes = box_counts(ctx.detections, candidates=ctx.candidates)
    keep = np.isfinite(s)
    skipped = ctx.candidates[~keep]
    cand, s = ctx.candidates[keep], s[keep]
    note = ""
    if skipped.size:
        note = f"{skipped.size} image(s) without a prediction skipped (empty='skip')"
    if cand.size == 0:
        raise EmptyPoolError(
            f"no candidate has a prediction: all {skipped.size} image(s) were skipped "
            "(empty='skip'); use empty='max' or 'min', or give predictions for them."
        )
    cost = None if ctx.cost is None else np.asarray(ctx.cost, dtype=np.float64)[keep]
    if cost is None and params.get("cost_lambda") is not None:
        if boxes is None:
            raise InvalidInputError(
                f"{name}: cost_lambda needs a per-sample cost; a segmentation map has no boxes."
            )
        cost = np.maximum(boxes[keep], 1.0)
    criteria = {name: s}
    ranked = s
    if cost is not None:  # cheaper first: score / cost**lambda, as the other scorers do
        lam = params.get("cost_lambda")
        ranked = s / np.power(cost, 1.0 if lam is None else float(lam))
        criteria = {name: s, "cost": cost, f"{name}_per_cost": ranked}
    at_pick: dict = {}
    if selector == "top_k":
        idx = cand[top_positions(ranked, b, rng)]
    elif selector == "k_center_greedy":
        if ctx.X is None:
            raise MissingRequirementError(
                f"{name} with selector k_center_greedy needs image embeddings (X); run "
                "'labelwise embed' first."
            )
        m = int(params.get("n_candidates") or 10 * b)
        pre = cand[top_positions(ranked, min(max(m, b), cand.size), rng)]
        idx, gain = k_center_greedy_with_gain(
            ctx.X, labeled=ctx.labeled, batch_size=b, candidates=pre, random_state=rng
        )
        at_pick = {"distance_to_labeled_or_chosen": gain}
        note = "; ".join(x for x in (note, f"core-set among the {pre.size} highest {name}") if x)
    elif selector == "weighted":
        strengths = dict(params.get("strengths") or {name: 1.0, "novelty": 0.5})
        crit = {}
        for c in strengths:
            if c == name:
                crit[c] = ranked
            elif c in ("novelty", "diversity"):
                if ctx.X is None:
                    raise MissingRequirementError(
                        f"strengths: {c} needs image embeddings (X); run 'labelwise embed' first."
                    )
                crit[c] = (
                    novelty(ctx.X, labeled=ctx.labeled, candidates=cand)
                    if c == "novelty"
                    else representativeness(
                        ctx.X,
                        candidates=cand,
                        n_clusters=max(int(ctx.n_classes or 10), 2),
                        random_state=rng,
                    )
                )
            elif c == "boxes":
                if boxes is None:
                    raise InvalidInputError(f"strengths: {name} predicts no boxes.")
                crit[c] = boxes[keep]
            else:
                crit[c] = np.asarray(params["metadata"][c], dtype=np.float64)[cand]
        idx = weighted(crit, strengths=strengths, batch_size=b, candidates=cand, random_state=rng)
        criteria = {**criteria, **{k: v for k, v in crit.items() if k != name}}
    else:  # class_balance on the predicted object classes
        if ctx.detections is None:
            raise MissingRequirementError(
                f"{name} with selector class_balance needs predicted boxes with classes."
            )
        predicted = top_classes(ctx.detections, candidates=cand)
        idx = class_balance(
            ranked,
            predicted,
            batch_size=b,
            candidates=cand,
            target=params.get("target"),
            random_state=rng,
        )
    notes = _pick_notes(name, ctx, idx, empty, params)
    if selector == "class_balance":
        classes = top_classes(ctx.detections, candidates=idx)
        notes = [f"{t}, predicted class {c}" for t, c in zip(notes, classes, strict=True)]
    return DetectionBatch(idx, cand, criteria, at_pick, notes, skipped, note)
