"""--engine ray gives exactly what --engine local gives, even when a worker dies mid-run.

The module's Ray cluster is the ``ray_cluster`` fixture of conftest.py.
"""

import os

import numpy as np
import pytest
from _shard_pool import write_pool

from labelwise.scale import score_shards
from labelwise.strategies import UNCERTAINTY_SCORERS

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def big_pool(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big")
    write_pool(folder, n_rows=3_000_000, n_shards=12, ties=True)
    return folder


@pytest.mark.parametrize("name", list(UNCERTAINTY_SCORERS))
def test_ray_top_k_equals_local_exactly(ray_cluster, big_pool, name):
    kw = dict(strategy=name, batch_size=1_000, proba_prefix="p_")
    local = score_shards(big_pool / "*.parquet", engine="local", **kw)
    remote = score_shards(big_pool / "*.parquet", engine="ray", **kw)
    assert remote.n_rows == local.n_rows == 3_000_000
    np.testing.assert_array_equal(remote.ids, local.ids)
    np.testing.assert_array_equal(remote.scores, local.scores)


def test_ray_k_center_equals_local(ray_cluster, tmp_path):
    write_pool(tmp_path, n_rows=40_000, n_shards=4, n_features=6, proba=False)
    local = score_shards(tmp_path, strategy="k_center_greedy", batch_size=30)
    remote = score_shards(tmp_path, strategy="k_center_greedy", batch_size=30, engine="ray")
    np.testing.assert_array_equal(remote.ids, local.ids)
    np.testing.assert_array_equal(remote.scores, local.scores)


def test_ray_kmeans_equals_local_under_a_seed(ray_cluster, tmp_path):
    write_pool(tmp_path, n_rows=20_000, n_shards=4, n_features=6, proba=False)
    kw = dict(strategy="kmeans_equal", batch_size=15, random_state=3)
    local = score_shards(tmp_path, **kw)
    remote = score_shards(tmp_path, engine="ray", **kw)
    np.testing.assert_array_equal(remote.ids, local.ids)
    np.testing.assert_array_equal(remote.scores, local.scores)
    assert remote.info["inertia"] == local.info["inertia"]
    assert remote.info["n_iter"] == local.info["n_iter"] > 1  # the same Lloyd passes


def test_a_worker_killed_mid_run_is_retried_and_the_result_is_unchanged(ray_cluster, tmp_path):
    write_pool(tmp_path / "s", n_rows=200_000, n_shards=4, n_features=5, proba=False)
    marker = tmp_path / "killed-once"
    W = np.random.default_rng(4).normal(size=(5, 3))

    class DiesOnce:  # defined here, so Ray ships the class itself to its workers
        n_features_in_ = 5

        def __init__(self, kill):
            self.kill = kill

        def predict_proba(self, X):
            if self.kill and not os.path.exists(marker):
                marker.write_text("x")
                os._exit(1)  # the worker process dies, as on a lost node
            z = np.asarray(X, dtype=np.float64) @ W
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

    kw = dict(strategy="entropy", batch_size=200, rows_per_batch=20_000)
    want = score_shards(tmp_path / "s", model=DiesOnce(kill=False), **kw)
    got = score_shards(tmp_path / "s", model=DiesOnce(kill=True), engine="ray", **kw)
    assert marker.exists()  # a worker did die
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.scores, want.scores)


def test_a_ray_worker_returns_one_merged_output_per_shard(ray_cluster, tmp_path):
    # 8 shards of 5,000 rows read 500 rows at a time: 80 batches, but each worker folds its
    # shard's batches, so the driver receives 8 outputs of at most k rows each
    from labelwise.scale._engine import map_batches
    from labelwise.scale._score import TopKPart
    from labelwise.scale._shards import open_shards

    write_pool(tmp_path, n_rows=40_000, n_shards=8)
    shards = open_shards(tmp_path, id_column="id", proba_prefix="p_")
    part = TopKPart(
        strategy="margin",
        k=7,
        id_column="id",
        proba_columns=shards.proba_columns,
        feature_columns=(),
        model=None,
    )
    cols = ["id", *shards.proba_columns]
    outs = list(map_batches(shards, cols, part, engine="ray", batch_size=500, combine=part.combine))
    assert len(outs) == 8
    assert all(len(o["id"]) == 7 and o["count"].sum() == 5_000 for o in outs)
    # the union of the shards' best rows holds the pool's best 7, as the local engine (which
    # merges batch by batch on the driver, without combine) finds them
    local = score_shards(tmp_path, strategy="margin", batch_size=7, proba_prefix="p_")
    got_ids = np.concatenate([o["id"] for o in outs])
    got_scores = np.concatenate([o["score"] for o in outs])
    order = np.lexsort((got_ids, -got_scores))[:7]
    np.testing.assert_array_equal(got_ids[order], local.ids)
    np.testing.assert_array_equal(got_scores[order], local.scores)
