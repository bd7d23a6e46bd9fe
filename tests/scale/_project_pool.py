"""A small tabular project, labeled and trained, with one round queued: built in the test."""

import csv
import shutil

import numpy as np

from labelwise.embed import compute_features
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._project import select_batch, train
from labelwise.store import Project


def build_project(folder, *, n=3_000, seed=0):
    """``folder/p``: n rows x 6 features, 3 classes, 90 labels, model v1, round 1 queued.

    The features are one matrix (``.npz``); :func:`copy_sharded` makes a sharded twin.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "pool.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", *[f"c{j}" for j in range(6)]])
        w.writerows([f"s{i}", *X[i].round(6).tolist()] for i in range(n))
    with open(folder / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label"])
        w.writerows((f"s{i}", f"c{y[i]}") for i in range(0, n, n // 90))
    p = Project.init(folder / "p", classes=["c0", "c1", "c2"])
    import_pool(p, folder / "pool.csv", id_column="id")
    import_labels(p, folder / "labels.csv")
    compute_features(p)
    train(p)
    select_batch(p, strategy="margin", batch_size=10)  # queued: never a candidate again
    p.close()
    return folder / "p"


def copy_to(src, dst, *, shards=None):
    """A copy of the project; with ``shards`` its features recomputed as that many shards."""
    shutil.copytree(src, dst)
    p = Project.open(dst)
    if shards is not None:
        compute_features(p, shards=shards)
    return p
