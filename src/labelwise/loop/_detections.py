"""A detector's predictions in a project's select: which strategies read them, and how.

``select_batch(project, strategy="detection_...", predictions=PATH)`` reads the
file with :mod:`labelwise.io._predictions`, maps its image ids to the pool rows
of the project's samples and hands the detection scorers a
:class:`~labelwise.strategies.Detections` (or
:class:`~labelwise.strategies.SegmentationMaps`). The file is read and checked in
full before anything is stored, and the round records its name and SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labelwise.errors import InvalidInputError, MissingRequirementError
from labelwise.strategies import _detection as D

__all__ = ["PredictionInput", "prediction_input"]


@dataclass
class PredictionInput:
    """What a detection or segmentation strategy reads, and where it came from."""

    strategy: str
    kind: str  # "detections" or "masks"
    source: str
    needs_X: bool
    info: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def read(self, project, ids: np.ndarray):
        """Read and check the file for the pool rows ``ids`` (database sample ids)."""
        from labelwise.io._predictions import (
            BoxPredictions,
            instance_maps,
            match_images,
            read_box_predictions,
            read_mask_predictions,
        )

        pos_of = np.full(int(ids.max()) + 1 if ids.size else 1, -1, dtype=np.int64)
        pos_of[ids] = np.arange(ids.size)
        name = str(self.source)
        if self.kind == "detections":
            bp = read_box_predictions(self.source)
            where = dict(bp.declared)
            for k, w in zip(bp.image, bp.where, strict=True):
                where.setdefault(k, w)
            sid_of = match_images(list(where), where, name, project)
            self.info = bp.describe()
            box_sid = np.asarray([sid_of[k] for k in bp.image], dtype=np.int64)
            pos = pos_of[box_sid] if box_sid.size else np.empty(0, dtype=np.int64)
            keep = pos >= 0  # images without features (when X is used) are no candidates
            classes = bp.classes
            code = {c: i for i, c in enumerate(classes)}
            label = np.asarray([code[c] for c in bp.category], dtype=np.intp)
            return D.Detections(
                sample=pos[keep],
                score=bp.score[keep],
                n_samples=int(ids.size),
                label=label[keep],
                boxes=bp.bbox[keep],
                class_scores=None if bp.class_scores is None else bp.class_scores[keep],
                member=None if bp.member is None else bp.member[keep],
                n_members=bp.n_members,
                classes=tuple(classes),
            )
        preds = read_mask_predictions(self.source)
        if isinstance(preds, BoxPredictions):
            maps, where = instance_maps(preds)
            self.info = {**preds.describe(), "images": len(maps)}
        else:
            maps, where = preds.maps, preds.where
            self.info = preds.describe()
        sid_of = match_images(list(maps), where, name, project)
        rows = {int(pos_of[sid_of[k]]): m for k, m in maps.items() if pos_of[sid_of[k]] >= 0}
        names = {int(pos_of[sid_of[k]]): f"{name}: {where[k]}" for k in maps}
        return D.SegmentationMaps(rows, n_samples=int(ids.size), names=names)

    def set_skipped(self, project, sample_ids) -> None:
        """Record the ids of the images the strategy left out (``empty="skip"``)."""
        from sqlalchemy import select

        from labelwise.store._models import Sample

        sids = [int(x) for x in np.asarray(sample_ids).tolist()]
        uids = {}
        with project.session() as s:
            for start in range(0, len(sids), 5000):
                chunk = sids[start : start + 5000]
                uids.update(
                    s.execute(select(Sample.id, Sample.uid).where(Sample.id.in_(chunk))).all()
                )
        self.skipped = [uids[x] for x in sids]

    def note(self) -> str:
        """What the round and every reason say about the file."""
        return f"{self.kind_word} from {Path(self.source).name} (sha256 {self.info['sha256'][:12]})"

    @property
    def kind_word(self) -> str:
        return "boxes" if self.kind == "detections" else "maps"

    def describe(self) -> dict:
        out = dict(self.info)
        if self.skipped:
            out["skipped"] = len(self.skipped)
            out["skipped_ids"] = self.skipped[:100]
        return out


def prediction_input(strategy, predictions) -> PredictionInput | None:
    """The predictions a strategy reads, or None; refuses a file the strategy would ignore.

    Raises
    ------
    InvalidInputError
        ``predictions`` given to a strategy that does not read them.
    MissingRequirementError
        A detection or segmentation strategy without ``predictions``.
    """
    kind = next((k for k in ("detections", "masks") if k in strategy.needs), None)
    if kind is None:
        if predictions is not None:
            names = ", ".join(D.SUMMARIES)
            raise InvalidInputError(
                f"--predictions is read by the detection and segmentation strategies "
                f"({names}); strategy {strategy.name!r} does not use it."
            )
        return None
    if predictions is None:
        what = (
            "a detector's boxes: COCO results .json, a folder of YOLO .txt files with "
            "confidences, or a .csv/.parquet table"
            if kind == "detections"
            else "per-pixel maps: a folder of .npy/.npz, or COCO results .json with masks"
        )
        raise MissingRequirementError(
            f"strategy {strategy.name!r} needs --predictions FILE with {what}."
        )
    return PredictionInput(strategy.name, kind, str(predictions), D.needs_X(strategy.params))
