#!/usr/bin/env python
"""Experiment: does a light SimCLR head on the frozen EfficientNet-Lite0 beat the frozen features?

Usage::

    python benchmarks/bench_simclr.py --quick   # 30 patches per photo, 2 views, 2 seeds
    python benchmarks/bench_simclr.py > benchmarks/results/simclr.json

Prints ONE JSON object on stdout; progress goes to stderr. Same offline patch pool as
``bench_images.py`` (12 photos, random crops; needs ``pip install scikit-image`` for
the benchmark only), and the same caveat: a proxy for natural photos.

What runs (SimCLR, Chen et al. 2020, made light enough for 2 CPU cores):

1. Views: every pool image gets ``--views`` augmented copies (random resized crop of
   30-100 % of the area, horizontal flip, brightness / contrast / saturation jitter of
   +-40 %, grey with probability 0.2), embedded ONCE by the frozen backbone (OpenVINO),
   so training never runs the backbone.
2. Head: a 1280-512-128 MLP (ReLU) trained with the NT-Xent loss (temperature 0.1,
   batches of 256 images = 512 views, AdamW lr 1e-3) for ``--epochs`` epochs; each
   step pairs two different views of each image. No label is used.
3. Features compared, each L2-normalised: the frozen backbone vector of the plain
   image; the head's hidden layer (512-d, SimCLR's representation before the
   projection) of the plain image; the head's output (128-d).
4. The same replay as ``bench_images.py``: logreg, margin and random, 5 seeds, the
   same splits; AUBC and accuracy at every label count.

The head is trained on every image of the set, test split included (transductive: the
images, never their labels), as a user's pool would be; both arms see the same data.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emit, log, version  # noqa: E402  (benchmarks/ is on sys.path)
from bench_images import build, refuse_network, summarise  # noqa: E402

SEED = 0


def augment(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One SimCLR view of a (224, 224, 3) uint8 image, as (224, 224, 3) uint8."""
    from PIL import Image, ImageEnhance, ImageOps

    h, w = a.shape[:2]
    area = rng.uniform(0.3, 1.0) * h * w
    ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    ch = int(min(h, round(np.sqrt(area / ratio))))
    cw = int(min(w, round(np.sqrt(area * ratio))))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    im = Image.fromarray(a[y : y + ch, x : x + cw]).resize((224, 224), Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        im = ImageOps.mirror(im)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        im = enhance(im).enhance(float(rng.uniform(0.6, 1.4)))
    if rng.random() < 0.2:
        im = im.convert("L").convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def nt_xent(z1, z2, temperature: float):
    """SimCLR's loss over a batch of n pairs (2n views): each view's partner is its positive."""
    import torch

    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    n = z1.shape[0]
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return torch.nn.functional.cross_entropy(sim, target)


def train_head(V: np.ndarray, *, epochs: int, seed: int = SEED):
    """Train the MLP head on views V of shape (n_images, n_views, 1280); returns it."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    head = torch.nn.Sequential(
        torch.nn.Linear(V.shape[2], 512), torch.nn.ReLU(), torch.nn.Linear(512, 128)
    )
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
    Vt = torch.from_numpy(V)
    n, k = V.shape[:2]
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, 256):
            rows = order[s : s + 256]
            pick = torch.stack([torch.randperm(k, generator=gen)[:2] for _ in rows])
            z1 = head(Vt[rows, pick[:, 0]])
            z2 = head(Vt[rows, pick[:, 1]])
            loss = nt_xent(z1, z2, 0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(rows)
        losses.append(round(total / n, 4))
    return head.eval(), losses


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--per-class", type=int, default=70)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    per_class, views, seeds = (
        (30, 2, [0, 1])
        if args.quick
        else (
            args.per_class,
            args.views,
            list(range(args.seeds)),
        )
    )
    refuse_network()
    import torch
    from PIL import Image
    from sqlalchemy import select
    from threadpoolctl import threadpool_limits

    from labelwise.embed import compute_features, load_features
    from labelwise.embed._backbone import load_backbone
    from labelwise.loop._bench import run_bench
    from labelwise.store import Project
    from labelwise.store._models import Sample

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path, classes = build(Path(tmp), "patches", per_class)
        p = Project.open(path)
        compute_features(p, method="efficientnet_lite0")
        X, ids, _ = load_features(p)
        with p.session() as s:
            uris = dict(s.execute(select(Sample.id, Sample.uri)).all())
        labels = p.current_labels()
        p.close()
        files = [uris[int(i)] for i in ids]
        y = np.array([labels[int(i)] for i in ids])
        pixels = [np.asarray(Image.open(f).convert("RGB")) for f in files]
        rng = np.random.default_rng(SEED)
        backbone = load_backbone()
        log(f"embedding {views} views of {len(files)} images ({backbone.description})")
        t = time.perf_counter()
        V = np.empty((len(files), views, X.shape[1]), dtype=np.float32)
        for v in range(views):
            aug = [augment(a, rng) for a in pixels]
            V[:, v] = backbone.encode(list(range(len(aug))), read=aug.__getitem__)
        views_s = time.perf_counter() - t
        log(f"training the head, {args.epochs} epochs")
        t = time.perf_counter()
        head, losses = train_head(V, epochs=args.epochs)
        train_s = time.perf_counter() - t
        with torch.no_grad():
            Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
            hidden = head[1](head[0](Xt)).numpy()
            out = head(Xt).numpy()
    features = {
        "frozen_backbone": X,
        "simclr_hidden_512": hidden / np.linalg.norm(hidden, axis=1, keepdims=True),
        "simclr_projection_128": out / np.linalg.norm(out, axis=1, keepdims=True),
    }
    result = {
        "benchmark": "SimCLR head on the frozen EfficientNet-Lite0 vs the frozen features",
        "mode": "quick" if args.quick else "full",
        "n_images": len(files),
        "n_classes": len(classes),
        "views_per_image": views,
        "epochs": args.epochs,
        "seconds_embedding_views": round(views_s, 1),
        "seconds_training_head": round(train_s, 1),
        "nt_xent_loss_first_last": [losses[0], losses[-1]],
        "seeds": seeds,
        "features": {},
    }
    for name, F in features.items():
        log(f"replaying {name}: logreg, margin vs random")
        kw = dict(model="logreg", initial=12, seeds=seeds, test_size=0.4)
        with threadpool_limits(1):  # as in bench_images.py
            res = run_bench(F, y, strategies=("margin", "random"), batch_size=12, budget=96, **kw)
            n_pool = res["n_pool"]
            full = run_bench(F, y, strategies=("random",), batch_size=n_pool, budget="all", **kw)
        result["features"][name] = summarise(
            res, [c[-1] for c in full["strategies"]["random"]["curves"]]
        )
    base = result["features"]["frozen_backbone"]
    for name in ("simclr_hidden_512", "simclr_projection_128"):
        f = result["features"][name]
        f["minus_frozen"] = {
            s: [
                round(a - b, 4)
                for a, b in zip(f[s]["mean_curve"], base[s]["mean_curve"], strict=True)
            ]
            for s in ("margin", "random")
        }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    result["versions"] = {"torch": version("torch"), "openvino": version("openvino")}
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
