"""A small detection (or segmentation) project for the box-labeling tests, web and browser.

Two images, selected by ``detection_mean_confidence`` over a COCO results file:
``big.png`` (2400x1600, no predicted box, so it is maximally uncertain and comes
first) and ``pre.png`` (1200x800, the model's boxes: a cat at 0.9, a dog at 0.6 and
a bird at 0.1, which is under the pre-label threshold). Users ``ann`` and ``rev``.
"""

import json

from PIL import Image, ImageDraw

from labelwise.annotate import add_user
from labelwise.io._samples import import_pool
from labelwise.loop._project import select_batch
from labelwise.store import Project

PASSWORDS = {"ann": "ann-pass-1", "rev": "rev-pass-1"}
ROLES = {"ann": "annotator", "rev": "reviewer"}
CLASSES = ["cat", "dog", "bird"]
SIZES = {"big.png": (2400, 1600), "pre.png": (1200, 800)}
#: the model's boxes of pre.png, [x, y, w, h] in pixels
PRED = [
    {"class": "cat", "bbox": [100, 120, 300, 200], "score": 0.9},
    {"class": "dog", "bbox": [600, 300, 250, 350], "score": 0.6},
    {"class": "bird", "bbox": [900, 50, 100, 80], "score": 0.1},
]


def _image(path, size, seed: int) -> None:
    im = Image.new("RGB", size, (70 + 20 * seed, 110, 140))
    d = ImageDraw.Draw(im)
    w, h = size
    for k in range(0, w, 200):  # a grid, so a screenshot shows zoom and position
        d.line([(k, 0), (k, h)], fill=(200, 200, 210), width=3)
    for k in range(0, h, 200):
        d.line([(0, k), (w, k)], fill=(200, 200, 210), width=3)
    d.ellipse([w * 0.3, h * 0.3, w * 0.5, h * 0.6], fill=(230, 170, 60))
    im.save(path)


def make_object_project(path, *, task: str = "detection", users=PASSWORDS):
    """The project at ``path``; its images and predictions file lie beside it."""
    data = path.parent / f"{path.name}_images"
    data.mkdir()
    for i, (name, size) in enumerate(SIZES.items()):
        _image(data / name, size, i)
    cats = [{"id": i + 1, "name": c} for i, c in enumerate(CLASSES)]
    preds = [{"image_id": 2, "category_id": CLASSES.index(b["class"]) + 1, **b} for b in PRED]
    for r in preds:
        del r["class"]
    images = [
        {"id": i + 1, "file_name": n, "width": s[0], "height": s[1]}
        for i, (n, s) in enumerate(SIZES.items())
    ]
    pred_file = path.parent / f"{path.name}_preds.json"
    pred_file.write_text(json.dumps({"images": images, "annotations": preds, "categories": cats}))
    p = Project.init(path, classes=CLASSES, task=task)
    import_pool(p, data)
    select_batch(p, strategy="detection_mean_confidence", batch_size=2, predictions=pred_file)
    for name, pw in users.items():
        add_user(p, name, pw, ROLES[name])
    return p
