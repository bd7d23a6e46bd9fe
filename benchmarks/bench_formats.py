#!/usr/bin/env python
"""Annotation formats at 10,000 boxes: COCO and YOLO import and export of a detection project.

Usage::

    python benchmarks/bench_formats.py                  # 1,000 images x 10 boxes
    python benchmarks/bench_formats.py --images 10000   # 100,000 boxes

Writes one 640 x 480 PNG hard-linked once per image, a COCO file with seeded random boxes
over three classes, then times (wall seconds): ``import --format coco`` (images, sizes
checked against the files, labels), ``labels import --format coco`` of the same file
(every label unchanged), ``labels export`` to COCO and to a YOLO folder, and
``import --format yolo`` of that folder into a fresh project. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from labelwise.io._annotations import import_annotated
from labelwise.io._labels import export_labels, import_labels
from labelwise.store import Project


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--boxes-per-image", type=int, default=10)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    out: dict = {"images": args.images, "boxes": args.images * args.boxes_per_image}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "images").mkdir()
        Image.new("RGB", (640, 480)).save(t / "one.png")
        images, anns = [], []
        for i in range(args.images):
            name = f"im{i:06d}.png"
            os.link(t / "one.png", t / "images" / name)
            images.append({"id": i + 1, "file_name": name, "width": 640, "height": 480})
            for _ in range(args.boxes_per_image):
                x, y = rng.uniform(0, 500), rng.uniform(0, 380)
                w, h = rng.uniform(5, 100), rng.uniform(5, 100)
                cat = int(rng.integers(1, 4))
                ann = {"id": len(anns) + 1, "image_id": i + 1, "category_id": cat}
                anns.append({**ann, "bbox": [x, y, w, h]})
        cats = [{"id": j, "name": f"c{j}"} for j in (1, 2, 3)]
        doc = {"images": images, "annotations": anns, "categories": cats}
        (t / "coco.json").write_text(json.dumps(doc))
        p = Project.init(t / "p", task="detection")

        def timed(key, fn):
            t0 = time.perf_counter()
            fn()
            out[key] = round(time.perf_counter() - t0, 3)

        timed("import_coco_s", lambda: import_annotated(p, t / "coco.json", "coco"))
        timed(
            "labels_import_coco_unchanged_s", lambda: import_labels(p, t / "coco.json", fmt="coco")
        )
        timed("export_coco_s", lambda: export_labels(p, t / "out.json", fmt="coco"))
        timed("export_yolo_s", lambda: export_labels(p, t / "yolo", fmt="yolo"))
        q = Project.init(t / "q", task="detection")
        timed("import_yolo_s", lambda: import_annotated(q, t / "yolo", "yolo"))
        p.close()
        q.close()
    out["boxes_per_s_import_coco"] = round(out["boxes"] / out["import_coco_s"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
