"""Helpers for annotation tests: a small real project (three separable blobs)."""

import numpy as np
import pandas as pd

from labelwise.annotate import add_user
from labelwise.embed import compute_features
from labelwise.io._samples import import_pool
from labelwise.loop._project import select_batch
from labelwise.store import Project

USERS = {"ann": "annotator", "ann2": "annotator", "rev": "reviewer", "boss": "admin"}


def build_project(path, *, db=None, n=40, batch=6, users=USERS, classes=("a", "b", "c")):
    """A tabular project of ``n`` rows in three well-separated blobs, with one round."""
    rng = np.random.default_rng(0)
    truth = np.arange(n) % len(classes)
    X = rng.normal(size=(n, 4)) + 6.0 * truth[:, None]
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
    df.insert(0, "id", [f"s{i}" for i in range(n)])
    csv = path.parent / f"{path.name}_pool.csv"
    df.to_csv(csv, index=False)
    p = Project.init(path, classes=list(classes), db=db)
    import_pool(p, csv, id_column="id")
    compute_features(p)
    if batch:
        select_batch(p, strategy="random", batch_size=batch, random_state=0)
    for name, role in users.items():
        add_user(p, name, f"{name}-pass-1", role)
    return p, {f"s{i}": classes[t] for i, t in enumerate(truth)}
