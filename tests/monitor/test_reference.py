"""The default reference is the pool: strategy-picked labels are not a random sample."""

import numpy as np
import pandas as pd

from labelwise.embed import compute_features
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._project import train
from labelwise.monitor import monitor_project
from labelwise.store import Project


def _table(rng, n, prefix):
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 4))
    X[:, 0] += 2.5 * y
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df.insert(0, "id", [f"{prefix}{i}" for i in range(n)])
    return df, np.where(y == 1, "yes", "no")


def test_an_iid_batch_raises_no_alarm_against_the_pool_but_does_against_boundary_picks(tmp_path):
    rng = np.random.default_rng(3)
    pool, y = _table(rng, 800, "p")
    pool.to_csv(tmp_path / "pool.csv", index=False)
    p = Project.init(tmp_path / "proj", classes=["no", "yes"])
    import_pool(p, tmp_path / "pool.csv", id_column="id")
    compute_features(p)
    # what margin sampling labels: the rows nearest the class boundary (a = 1.25)
    near = np.argsort(np.abs(pool["a"].to_numpy() - 1.25))[:80]
    pd.DataFrame({"id": pool["id"].to_numpy()[near], "label": y[near]}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    import_labels(p, tmp_path / "labels.csv")
    train(p)
    batch, _ = _table(rng, 400, "q")  # the same distribution as the pool
    batch.to_csv(tmp_path / "batch.csv", index=False)

    default = monitor_project(p, tmp_path / "batch.csv").report
    assert default["drift"] is False, [t for t in default["tests"] if t["fired"]]
    assert default["reference"].startswith("pool")
    biased = monitor_project(p, tmp_path / "batch.csv", reference="labeled").report
    assert biased["drift"] is True  # why the labeled rows are not the default
    p.close()
