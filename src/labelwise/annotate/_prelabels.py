"""Pre-labels of detection and segmentation projects: the model's boxes, shown to accept or fix.

A round selected by a detection strategy records the predictions file it read
(``Round.info["predictions"]``: its path and SHA-256, see
:mod:`labelwise.loop._detections`). When the round's samples are queued, that file
is read again with :func:`labelwise.io._predictions.read_box_predictions` and each
sample's boxes with a confidence of at least :data:`MIN_SCORE` (the
:data:`MAX_BOXES` most confident) become its assignment's ``suggestion``::

    {"objects": [{"class": "dog", "bbox": [x, y, w, h], "score": 0.91}, ...],
     "source": "preds.json", "sha256": "..."}

in image pixels (YOLO's normalised boxes are scaled by the image's size), clipped
to the image. The labeling page draws them dashed; the annotator accepts or fixes
them, and only what they submit becomes the label. A file that moved, or changed
since the round was selected (another SHA-256), gives no pre-labels, and the queue
logs why (``queue.prelabels_skipped``). A rejected label goes back with its own
objects as the relabel's pre-labels (``"source": "rejected"``), so the annotator
fixes them instead of drawing everything again.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from labelwise.errors import LabelwiseError
from labelwise.io._objects import loads_label
from labelwise.store import Project
from labelwise.store._models import Round, Sample

__all__ = ["MIN_SCORE", "MAX_BOXES", "object_prelabels", "rejected_prelabel"]

#: Predicted boxes less confident than this are not shown as pre-labels.
MIN_SCORE = 0.25
#: The most pre-label boxes of one image (the most confident ones).
MAX_BOXES = 300


def _find(recorded: str, project: Project) -> Path | None:
    """The predictions file a round recorded: as written, else beside the project folder."""
    path = Path(recorded)
    tries = [path] if path.is_absolute() else [path, project.path.parent / path]
    return next((p for p in tries if p.exists()), None)


def _image_size(smp_meta: dict | None, uri: str | None) -> tuple[int, int] | None:
    meta = smp_meta or {}
    w, h = meta.get("width"), meta.get("height")
    if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
        return w, h
    if not uri:
        return None
    from labelwise.io._annotations import image_size

    try:
        return image_size(Path(uri), where=uri)
    except LabelwiseError:
        return None


def _clip_box(box, width: int, height: int) -> list[float] | None:
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(width), x + w), min(float(height), y + h)
    if x1 <= x0 or y1 <= y0:
        return None
    return [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]


def object_prelabels(project: Project, todo) -> tuple[dict[int, dict], list[dict]]:
    """Pre-labels of the queued samples from their rounds' predictions files.

    Parameters
    ----------
    project : Project
    todo : iterable of (sample_id, round_number)

    Returns
    -------
    hints : dict
        ``sample_id -> suggestion`` (see the module docstring) for the samples whose
        round has a readable predictions file with boxes for them.
    skipped : list of dict
        ``{"round", "file", "why"}`` for each predictions file that was not used.
    """
    from labelwise.io._predictions import match_images, read_box_predictions

    by_round: dict[int, list[int]] = {}
    for sid, rnd in todo:
        by_round.setdefault(int(rnd), []).append(int(sid))
    if not by_round:
        return {}, []
    with project.session() as s:
        infos = dict(
            s.execute(select(Round.number, Round.info).where(Round.number.in_(by_round))).all()
        )
    hints: dict[int, dict] = {}
    skipped: list[dict] = []
    for rnd, sids in by_round.items():
        rec = (infos.get(rnd) or {}).get("predictions")
        if not isinstance(rec, dict) or not rec.get("file") or rec.get("format") is None:
            continue  # no box file (or per-pixel maps only): no pre-labels
        path = _find(str(rec["file"]), project)
        if path is None:
            skipped.append({"round": rnd, "file": rec["file"], "why": "not found"})
            continue
        try:
            bp = read_box_predictions(path)
        except LabelwiseError as e:  # maps, not boxes; or a file that broke since
            skipped.append({"round": rnd, "file": rec["file"], "why": str(e)[:300]})
            continue
        if rec.get("sha256") and bp.sha256 != rec["sha256"]:
            skipped.append({"round": rnd, "file": rec["file"], "why": "changed since the round"})
            continue
        hints.update(_round_hints(project, bp, set(sids), match_images))
    return hints, skipped


def _round_hints(project: Project, bp, wanted: set[int], match_images) -> dict[int, dict]:
    where = dict(bp.declared)
    for k, w in zip(bp.image, bp.where, strict=True):
        where.setdefault(k, w)
    try:
        sid_of = match_images(list(where), where, bp.source, project)
    except LabelwiseError:
        return {}
    boxes: dict[int, list[int]] = {}
    for i, image in enumerate(bp.image):
        sid = sid_of.get(image)
        if sid in wanted and bp.score[i] >= MIN_SCORE and (bp.member is None or bp.member[i] == 0):
            boxes.setdefault(sid, []).append(i)
    if not boxes:
        return {}
    with project.session() as s:
        rows = s.execute(
            select(Sample.id, Sample.meta, Sample.uri).where(Sample.id.in_(list(boxes)))
        ).all()
    out: dict[int, dict] = {}
    for sid, meta, uri in rows:
        size = _image_size(meta, uri)
        if size is None:
            continue
        width, height = size
        scale = (width, height, width, height) if bp.fmt == "yolo" else (1, 1, 1, 1)
        objects = []
        for i in sorted(boxes[sid], key=lambda i: -bp.score[i])[:MAX_BOXES]:
            box = _clip_box([v * f for v, f in zip(bp.bbox[i], scale, strict=True)], width, height)
            if box is not None:
                objects.append(
                    {"class": bp.category[i], "bbox": box, "score": round(float(bp.score[i]), 4)}
                )
        if objects:
            out[sid] = {
                "objects": objects,
                "source": Path(bp.source).name,
                "sha256": bp.sha256,
            }
    return out


def rejected_prelabel(value: str) -> dict | None:
    """A rejected object label's objects, as the pre-labels of its relabel."""
    try:
        doc = loads_label(value)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not doc.get("objects"):
        return None
    return {"objects": doc["objects"], "source": "rejected"}
