"""labelwise score on Parquet shards, local engine: exact top-k, k-center bound, memory, errors."""

import sys
import tracemalloc

import numpy as np
import pytest
from _shard_pool import reference_top_k, write_pool

from labelwise.errors import InvalidInputError, MissingRequirementError
from labelwise.scale import APPROXIMATION_FACTOR, score_shards
from labelwise.scale._topk import TopK
from labelwise.strategies import UNCERTAINTY_SCORERS, k_center_greedy


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool")
    ids, proba, _ = write_pool(folder, n_rows=120_000, n_shards=6, ties=True)
    return folder, ids, proba


@pytest.mark.parametrize("name", list(UNCERTAINTY_SCORERS))
def test_top_k_equals_a_full_sort_of_the_whole_pool(pool, name):
    folder, ids, proba = pool
    # scored on the whole pool at once (float64), sorted in one go: the reference
    want_ids, want_scores = reference_top_k(
        ids, UNCERTAINTY_SCORERS[name](proba.astype(np.float64)), 500
    )
    r = score_shards(
        folder / "*.parquet", strategy=name, batch_size=500, proba_prefix="p_", rows_per_batch=7_000
    )
    np.testing.assert_array_equal(r.ids, want_ids)
    np.testing.assert_array_equal(r.scores, want_scores)
    # the coarse grid makes ties: the merge must have broken them by id, not by arrival
    assert np.unique(want_scores).size < 500


def test_merge_is_exact_for_any_partition_and_arrival_order():
    rng = np.random.default_rng(1)
    ids = rng.permutation(50_000)
    scores = rng.integers(0, 20, size=ids.size).astype(np.float64)  # heavy ties
    want = np.lexsort((ids, -scores))[:300]
    cuts = np.sort(rng.choice(ids.size, size=40, replace=False))
    parts = np.split(np.arange(ids.size), cuts)
    top = TopK(300)
    for p in rng.permutation(len(parts)):
        top.add(ids[parts[p]], scores[parts[p]])
    got_ids, got_scores = top.result()
    np.testing.assert_array_equal(got_ids, ids[want])
    np.testing.assert_array_equal(got_scores, scores[want])


class SoftmaxModel:
    """A fixed linear softmax model, as a file written by train would hold."""

    def __init__(self, W):
        self.W = W
        self.n_features_in_ = W.shape[0]

    def predict_proba(self, X):
        z = np.asarray(X, dtype=np.float64) @ self.W
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def test_model_is_applied_to_the_feature_columns(tmp_path):
    ids, _, X = write_pool(tmp_path, n_rows=30_000, n_shards=3, n_features=5, proba=False)
    model = SoftmaxModel(np.random.default_rng(2).normal(size=(5, 3)))
    # the reference: the same model on the whole matrix, by hand
    want_ids, _ = reference_top_k(ids, UNCERTAINTY_SCORERS["margin"](model.predict_proba(X)), 50)
    r = score_shards(tmp_path, strategy="margin", batch_size=50, model=model)
    np.testing.assert_array_equal(r.ids, want_ids)
    wrong = SoftmaxModel(np.ones((4, 3)))
    with pytest.raises(InvalidInputError, match="trained on 4 features but the shards have 5"):
        score_shards(tmp_path, strategy="margin", batch_size=5, model=wrong)


def test_driver_memory_stays_under_a_quarter_of_the_pool(tmp_path):
    n = 800_000
    ids, proba, _ = write_pool(tmp_path, n_rows=n, n_shards=8, n_classes=4)
    pool_bytes = ids.nbytes + proba.nbytes  # 19 MB of int64 ids and float32 probabilities
    want_ids, _ = reference_top_k(ids, UNCERTAINTY_SCORERS["margin"](proba), 100)
    del ids, proba
    bound = pool_bytes // 4
    tracemalloc.start()
    try:
        r = score_shards(
            tmp_path, strategy="margin", batch_size=100, proba_prefix="p_", rows_per_batch=16_384
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(r.ids, want_ids)
    assert r.n_rows == n
    assert peak < bound, f"driver peak {peak / 1e6:.1f} MB, bound {bound / 1e6:.1f} MB"


def _radius(X, centres):
    """Covering radius by brute force in chunks (the test's own computation)."""
    C = X[centres].astype(np.float64)
    worst = 0.0
    for i in range(0, X.shape[0], 20_000):
        x = X[i : i + 20_000].astype(np.float64)
        d2 = (x**2).sum(1)[:, None] - 2 * x @ C.T + (C**2).sum(1)[None, :]
        worst = max(worst, float(np.sqrt(np.maximum(d2.min(axis=1), 0)).max()))
    return worst


def test_distributed_k_center_radius_is_within_the_stated_factor(tmp_path):
    rng = np.random.default_rng(3)
    # clustered data: 30 blobs of different spread, in 6 shards
    centres = rng.normal(scale=10, size=(30, 4))
    X = (centres[rng.integers(30, size=60_000)] + rng.normal(size=(60_000, 4))).astype(np.float32)
    ids = np.arange(X.shape[0], dtype=np.int64)
    import pyarrow as pa
    import pyarrow.parquet as pq

    for s, rows in enumerate(np.array_split(rng.permutation(X.shape[0]), 6)):
        cols = {"id": ids[rows], **{f"f_{j}": X[rows, j] for j in range(4)}}
        pq.write_table(pa.table(cols), tmp_path / f"s{s}.parquet")
    k = 40
    r = score_shards(tmp_path, strategy="k_center_greedy", batch_size=k)
    assert r.ids.size == k and np.unique(r.ids).size == k
    # the exact greedy on the whole pool, started from the same row (the smallest id)
    exact = np.concatenate([[0], k_center_greedy(X, labeled=[0], batch_size=k - 1)])
    r_exact, r_dist = _radius(X, exact), _radius(X, r.ids)
    assert r_dist <= APPROXIMATION_FACTOR * r_exact
    assert r_dist <= r.info["radius_bound"] + 1e-5  # the a-posteriori bound holds too
    print(f"k-center radius: distributed {r_dist:.3f}, exact greedy {r_exact:.3f}")


def test_nan_probabilities_name_the_shard(tmp_path):
    write_pool(tmp_path, n_rows=1_000, n_shards=2)
    import pyarrow.parquet as pq

    path = tmp_path / "part-01.parquet"
    t = pq.read_table(path).to_pandas()
    t.loc[5, "p_0"] = np.nan
    t.to_parquet(path)
    with pytest.raises(InvalidInputError, match="part-01.parquet: proba contains NaN"):
        score_shards(tmp_path, strategy="entropy", batch_size=5, proba_prefix="p_")


def test_duplicate_ids_among_the_picks_are_refused(tmp_path):
    write_pool(tmp_path / "a", n_rows=1_000, n_shards=1)
    write_pool(tmp_path / "b", n_rows=1_000, n_shards=1)  # same seed: the same ids again
    files = [tmp_path / "a" / "part-00.parquet", tmp_path / "b" / "part-00.parquet"]
    with pytest.raises(InvalidInputError, match="appears in more than one row"):
        score_shards(files, strategy="margin", batch_size=10, proba_prefix="p_")


def test_ray_engine_without_ray_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    write_pool(tmp_path / "s", n_rows=100, n_shards=1)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as if not installed
    with pytest.raises(MissingRequirementError, match=r'pip install "labelwise\[ray\]"'):
        score_shards(tmp_path / "s", strategy="margin", batch_size=5, engine="ray")
    from labelwise.cli import main

    out = tmp_path / "picks.csv"
    args = ["labelwise", "score", "--data", str(tmp_path / "s"), "--proba-columns", "p_"]
    args += ["--batch", "5", "--out", str(out), "--engine", "ray"]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "labelwise[ray]"' in err
    assert not out.exists()


def test_cli_writes_id_score_rank_best_first(tmp_path):
    from typer.testing import CliRunner

    from labelwise.cli import app

    ids, proba, _ = write_pool(tmp_path / "s", n_rows=5_000, n_shards=3)
    out = tmp_path / "picks.csv"
    r = CliRunner().invoke(
        app,
        [
            "score",
            "--data",
            str(tmp_path / "s" / "*.parquet"),
            "--proba-columns",
            "p_",
            "--strategy",
            "entropy",
            "--batch",
            "20",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    lines = out.read_text().splitlines()
    assert lines[0] == "id,score,rank"
    rows = [line.split(",") for line in lines[1:]]
    want_ids, want_scores = reference_top_k(
        ids, UNCERTAINTY_SCORERS["entropy"](proba.astype(np.float64)), 20
    )
    assert [int(r[0]) for r in rows] == want_ids.tolist()
    np.testing.assert_allclose([float(r[1]) for r in rows], want_scores, rtol=0, atol=1e-12)
    assert [int(r[2]) for r in rows] == list(range(1, 21))
