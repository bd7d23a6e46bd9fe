#!/usr/bin/env python
"""Benchmark: the issue-12 image goals on natural photos that Python packages ship, offline.

Usage::

    python benchmarks/bench_images.py --quick    # 2 seeds, logreg only: a few minutes
    python benchmarks/bench_images.py > benchmarks/results/images.json   # 5 seeds, both models

Prints ONE JSON object on stdout; progress goes to stderr. Needs the ``image`` and
``torch`` extras and, for the benchmark only, scikit-image (``pip install scikit-image``:
its wheel ships the photos; it is not a labelwise dependency). Its files are read
directly with Pillow and numpy; nothing of ``skimage.data`` runs, and every socket
connection is refused for the whole run (``network_attempts`` counts the tries).

The data sets: a PROXY for the held-out natural photos of the acceptance check, which
are not in the repository. Patches of one photo share its colours, textures and even
pixels (overlapping crops), so they are easier to tell apart than photos of real
categories; the numbers below say how labelwise behaves on real photographic
statistics, not what accuracy a user's own photos will reach.

1. ``patches``: which photo or texture is this patch from. 12 classes (scikit-image's
   astronaut, chelsea, coffee, motorcycle_left, rocket, hubble_deep_field, retina,
   brick, grass, gravel; scikit-learn's china and flower), ``--per-class`` (70) random
   square crops of 96-160 px each, resized to 224 x 224 (bicubic), saved as JPEG
   (quality 90) in one class sub-folder per photo.
2. ``lfw``: scikit-image's ``lfw_subset.npy``: 200 grey 25 x 25 images, 100 faces
   (Labeled Faces in the Wild) and 100 non-faces, saved as PNG.

Each is imported as an image-folder project (class sub-folders become accepted labels),
embedded with ``compute_features(method=...)`` (what ``labelwise embed --method`` runs)
for ``efficientnet_lite0`` and for ``pixels``, and replayed with ``project_dataset`` +
``run_bench`` (what ``labelwise bench --project`` runs): margin and random, the same
seeds, splits and initial sets for both feature kinds. Reported per data set, features
and model: the mean and std of the accuracy at every label count, the full-pool accuracy
(every pool row labeled, same splits), the fewest labels where the mean curve reaches
90 % of it, margin's AUBC against random's (mean, std, paired wins), and the backbone's
lead over pixels at every label count. The bench preprocesses as ``bench`` does by
default (``preprocessing`` in each entry says how); pixels also run standardised per
column (``pixels_standardized``) and the backbone is compared with the better of the
two pixel arms at each label count. The replays run with every BLAS pool at one
thread: on the shared 2-core machine a 108 x 1280 logistic regression took 3.5 s with
the default threads (spinning against other processes) and 0.2 s with one.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emit, log, version  # noqa: E402  (benchmarks/ is on sys.path)

SEED = 0
PHOTOS = {  # class -> file in skimage/data (scikit-learn's two are loaded apart)
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "motorcycle": "motorcycle_left.png",
    "rocket": "rocket.jpg",
    "hubble": "hubble_deep_field.jpg",
    "retina": "retina.jpg",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
}
NETWORK_ATTEMPTS: list[str] = []


def refuse_network() -> None:
    """Refuse and count every socket connection for the rest of the run."""

    def refuse(*args, **kwargs):
        NETWORK_ATTEMPTS.append(repr(args[1:2] or args[:1])[:80])
        raise OSError("network is off in this benchmark")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse


def skimage_data() -> Path:
    spec = importlib.util.find_spec("skimage")  # finds the folder; imports nothing
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-image is not installed: pip install scikit-image")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def photos() -> dict[str, np.ndarray]:
    from PIL import Image
    from sklearn.datasets import load_sample_images

    d = skimage_data()
    out = {}
    for name, f in PHOTOS.items():
        with Image.open(d / f) as im:
            out[name] = np.asarray(im.convert("RGB"))
    china, flower = load_sample_images().images
    return out | {"china": china, "flower": flower}


def make_patches(folder: Path, per_class: int) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(SEED)
    classes = []
    for name, a in photos().items():
        classes.append(name)
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            s = int(rng.integers(96, 161))
            y, x = (
                int(rng.integers(0, a.shape[0] - s + 1)),
                int(rng.integers(0, a.shape[1] - s + 1)),
            )
            im = Image.fromarray(a[y : y + s, x : x + s]).resize(
                (224, 224), Image.Resampling.BICUBIC
            )
            im.save(folder / name / f"{name}{i:03d}.jpg", quality=90)
    return classes


def make_lfw(folder: Path) -> list[str]:
    from PIL import Image

    a = np.load(skimage_data() / "lfw_subset.npy")  # (200, 25, 25) floats in [0, 1]
    classes = ["face", "nonface"]  # the first 100 are faces (scikit-image's docs)
    for c in classes:
        (folder / c).mkdir(parents=True)
    for i, img in enumerate(a):
        c = classes[i >= 100]
        Image.fromarray(np.rint(img * 255).astype(np.uint8), "L").save(
            folder / c / f"{c}{i:03d}.png"
        )
    return classes


def build(root: Path, name: str, per_class: int):
    from labelwise.io._samples import import_pool
    from labelwise.store import Project

    folder = root / f"{name}-images"
    classes = make_patches(folder, per_class) if name == "patches" else make_lfw(folder)
    path = root / name
    p = Project.init(path, classes=classes)
    import_pool(p, folder)
    p.close()
    return path, classes


def embed(path: Path, method: str) -> dict:
    from labelwise.embed import compute_features
    from labelwise.store import Project

    lines = []
    p = Project.open(path)
    t, c = time.perf_counter(), time.process_time()
    art = compute_features(p, method=method, on_start=lambda _n, line: lines.append(line))
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    p.close()
    n = art.info["n_samples"]
    return {
        "line": lines[0],
        "n_images": n,
        "seconds": round(wall, 2),
        "images_per_s": round(n / wall, 1),
        "images_per_cpu_s": round(n / cpu, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def first_reaching(labels, curve, target):
    for n, v in zip(labels, curve, strict=True):
        if v >= target:
            return int(n)
    return None


def replay(path: Path, model: str, seeds: list[int], initial: int, batch: int, budget: int, prep):
    """Margin and random curves, and the full-pool accuracy on the same splits."""
    from threadpoolctl import threadpool_limits

    from labelwise.loop._bench import run_bench
    from labelwise.loop._replay import project_dataset

    ds, _ = project_dataset(path, initial=initial)
    kw = dict(model=model, initial=initial, seeds=seeds, test_size=0.4)
    if prep is not None:
        kw["preprocess"] = prep
    with threadpool_limits(1):  # see the docstring: BLAS threads spin on a busy machine
        res = run_bench(
            ds.X, ds.y, strategies=("margin", "random"), batch_size=batch, budget=budget, **kw
        )
        n_pool = res["n_pool"]
        full = run_bench(ds.X, ds.y, strategies=("random",), batch_size=n_pool, budget="all", **kw)
    full_acc = [c[-1] for c in full["strategies"]["random"]["curves"]]
    assert full["strategies"]["random"]["labels"][-1] == n_pool
    return res, full_acc


def summarise(res: dict, full_acc: list[float]) -> dict:
    n_pool = res["n_pool"]
    full = float(np.mean(full_acc))
    out = {
        "n_pool": n_pool,
        "n_test": res["n_test"],
        "preprocessing": res.get("preprocessing"),
        "labels": res["strategies"]["margin"]["labels"],
        "full_pool_accuracy": round(full, 4),
        "full_pool_accuracy_std": round(float(np.std(full_acc)), 4),
    }
    a = {}
    for s in ("margin", "random"):
        r = res["strategies"][s]
        reach = first_reaching(r["labels"], r["mean_curve"], 0.9 * full)
        out[s] = {
            "mean_curve": [round(v, 4) for v in r["mean_curve"]],
            "std_curve": [round(v, 4) for v in r["std_curve"]],
            "aubc_mean": round(r["aubc_mean"], 4),
            "aubc_std": round(r["aubc_std"], 4),
            "labels_to_90pct_of_full_pool": reach,
            "pool_fraction_to_90pct": None if reach is None else round(reach / n_pool, 4),
            "goal_90pct_under_10pct_of_pool": reach is not None and reach < 0.1 * n_pool,
        }
        a[s] = np.asarray(r["aubc"])
    diff = a["margin"] - a["random"]
    out["margin_minus_random_aubc"] = {
        "mean": round(float(diff.mean()), 4),
        "std": round(float(diff.std()), 4),
        "seeds_margin_ahead": int((diff > 0).sum()),
        "n_seeds": int(diff.size),
    }
    return out


def arms(method: str) -> list[tuple[str, str | None]]:
    """(name, bench preprocessing) for each run of one feature kind.

    Pixels also run standardised per column when the bench can be told so: the
    backbone is compared with the better pixel arm at every label count.
    """
    import inspect

    from labelwise.loop._bench import run_bench

    if method == "pixels" and "preprocess" in inspect.signature(run_bench).parameters:
        return [("pixels", None), ("pixels_standardized", "standardize")]
    return [(method, None)]


def compare_features(backbone: dict, pixel_arms: list[dict]) -> dict:
    out = {}
    for s in ("margin", "random"):
        best = np.max([a[s]["mean_curve"] for a in pixel_arms], axis=0)
        gap = np.subtract(backbone[s]["mean_curve"], best)
        out[s] = {
            "backbone_minus_best_pixels": [round(float(g), 4) for g in gap],
            "smallest_gap": round(float(gap.min()), 4),
            "backbone_ahead_at_every_label_count": bool((gap > 0).all()),
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, logreg only, 30 per class")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--per-class", type=int, default=70, help="patches per photo (default 70)")
    ap.add_argument("--models", default="logreg,torch_head")
    args = ap.parse_args(argv)
    seeds = list(range(2 if args.quick else args.seeds))
    per_class = 30 if args.quick else args.per_class
    models = ["logreg"] if args.quick else args.models.split(",")
    refuse_network()

    from labelwise.embed import image_backbone_available

    if not image_backbone_available():
        log("the image extra is not installed: pip install torch==2.13.0 'labelwise[image]'")
        return 1
    t0 = time.perf_counter()
    sets = {
        # (initial, batch, budget): initial = one per class; budgets reach ~20 % of the pool
        "patches": (12, 12, 96),
        "lfw": (4, 2, 36),
    }
    result: dict = {
        "benchmark": "issue 12 image goals on packaged natural photos (a proxy, see the docstring)",
        "mode": "quick" if args.quick else "full",
        "seeds": seeds,
        "test_size": 0.4,
        "strategies": ["margin", "random"],
        "data_sets": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, (initial, batch, budget) in sets.items():
            log(f"{name}: writing images and importing")
            path, classes = build(root, name, per_class)
            entry = {
                "classes": classes,
                "initial": initial,
                "batch": batch,
                "budget": budget,
                "embed": {},
                "models": {},
            }
            for method in ("efficientnet_lite0", "pixels"):
                log(f"{name}: embed --method {method}")
                entry["embed"][method] = embed(path, method)
                for model in models:
                    for arm, prep in arms(method):
                        log(f"{name}: {arm} + {model}: margin vs random, {len(seeds)} seeds")
                        res, full = replay(path, model, seeds, initial, batch, budget, prep)
                        entry["models"].setdefault(model, {})[arm] = summarise(res, full)
            for by in entry["models"].values():
                pixel_arms = [by[a] for a, _ in arms("pixels")]
                by["backbone_vs_pixels"] = compare_features(by["efficientnet_lite0"], pixel_arms)
            result["data_sets"][name] = entry
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["network_attempts"] = len(NETWORK_ATTEMPTS)
    result["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    result["versions"] = {
        "python": platform.python_version(),
        "torch": version("torch"),
        "openvino": version("openvino"),
        "scikit-image": version("scikit-image"),
        "scikit-learn": version("scikit-learn"),
        "pillow": version("pillow"),
    }
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
