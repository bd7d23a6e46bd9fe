"""kmeans_equal on Parquet shards, local engine: inertia vs scikit-learn, exact picks, errors."""

import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.cluster import KMeans

from labelwise.errors import InvalidInputError
from labelwise.scale import open_shards, score_shards
from labelwise.scale._kmeans import kmeans_select


def _write(folder, ids, X, n_shards, rng):
    folder.mkdir(parents=True, exist_ok=True)
    for s, rows in enumerate(np.array_split(rng.permutation(ids.size), n_shards)):
        cols = {"id": ids[rows], **{f"f_{j}": X[rows, j] for j in range(X.shape[1])}}
        pq.write_table(pa.table(cols), folder / f"s{s}.parquet")


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    """4,000 rows around 30 centres of different sizes, shuffled into 6 shards."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4, size=(30, 5))
    X = (centres[rng.integers(30, size=4_000)] + rng.normal(size=(4_000, 5))).astype(np.float32)
    ids = rng.permutation(4_000).astype(np.int64) * 3 + 1
    folder = tmp_path_factory.mktemp("blobs")
    _write(folder, ids, X, 6, rng)
    return folder, ids, X


def test_inertia_is_within_1_1x_of_sklearn_and_the_picks_are_the_nearest_members(blobs):
    folder, ids, X = blobs
    k = 20
    sel = kmeans_select(open_shards(folder), k, random_state=0)
    X64 = X.astype(np.float64)
    # brute force on the whole pool: every row against every final centre
    d2 = ((X64[:, None, :] - sel.centres[None, :, :]) ** 2).sum(axis=2)
    labels = d2.argmin(axis=1)
    inertia = d2.min(axis=1).sum()
    np.testing.assert_allclose(sel.inertia, inertia, rtol=1e-9)
    sk = KMeans(k, random_state=0).fit(X64)  # scikit-learn at its defaults, on the whole pool
    assert sel.inertia <= 1.1 * sk.inertia_, (sel.inertia, sk.inertia_)
    sizes = np.bincount(labels, minlength=k)
    assert (sizes > 0).all()
    # each cluster's member nearest its centre (equal distances: the smallest id)
    want = {}
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        best = rows[np.lexsort((ids[rows], d2[rows, c]))[0]]
        want[int(ids[best])] = int(sizes[c])
    assert sorted(sel.ids.tolist()) == sorted(want)
    # ranked by cluster size, largest first; the score is that size
    np.testing.assert_array_equal(sel.sizes, [want[i] for i in sel.ids.tolist()])
    assert (np.diff(sel.sizes) <= 0).all()
    assert sel.info["converged"] and sel.info["n_seeds"] == 6 * k


def test_same_seed_same_picks_and_score_shards_reports_the_seed(blobs):
    folder, _, _ = blobs
    a = score_shards(folder, strategy="kmeans_equal", batch_size=12, random_state=7)
    b = score_shards(folder, strategy="kmeans_equal", batch_size=12, random_state=7)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.info["inertia"] == b.info["inertia"]
    fresh = score_shards(folder, strategy="kmeans_equal", batch_size=12)
    again = score_shards(
        folder, strategy="kmeans_equal", batch_size=12, random_state=fresh.info["seed"]
    )
    np.testing.assert_array_equal(again.ids, fresh.ids)


def test_repeated_rows_fill_the_batch_from_the_largest_clusters_in_turns(tmp_path):
    # three distinct points, held by 5, 3 and 2 rows: five picks need second members
    X = np.repeat(np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=np.float32), [5, 3, 2], 0)
    ids = np.array([40, 12, 33, 7, 25, 9, 31, 18, 4, 50], dtype=np.int64)
    _write(tmp_path, ids, X, 3, np.random.default_rng(1))
    r = score_shards(tmp_path, strategy="kmeans_equal", batch_size=5, random_state=0)
    # by hand: one per group, largest first, then the next smallest ids of the two largest
    assert r.ids.tolist() == [7, 9, 4, 12, 18]
    assert r.scores.tolist() == [5.0, 3.0, 2.0, 5.0, 3.0]


def test_a_batch_larger_than_the_pool_is_one_line_naming_batch(tmp_path, monkeypatch, capsys):
    from typer.testing import CliRunner

    from labelwise.cli import app, main

    rng = np.random.default_rng(2)
    _write(tmp_path / "s", np.arange(300, dtype=np.int64), rng.normal(size=(300, 3)), 3, rng)
    with pytest.raises(InvalidInputError, match="--batch 301 is more than the 300 rows"):
        score_shards(tmp_path / "s", strategy="kmeans_equal", batch_size=301)
    out = tmp_path / "picks.csv"
    args = ["score", "--data", str(tmp_path / "s"), "--strategy", "kmeans_equal", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", ["labelwise", *args, "--batch", "301"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--batch 301" in err
    assert not out.exists()
    r = CliRunner().invoke(app, [*args, "--batch", "4", "--seed", "3", "--json"])
    assert r.exit_code == 0, r.output
    lines = out.read_text().splitlines()
    assert lines[0] == "id,score,rank" and len(lines) == 5
    assert [int(line.split(",")[2]) for line in lines[1:]] == [1, 2, 3, 4]
    assert json.loads(r.stdout)["seed"] == 3


def test_nan_features_name_the_shard(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    X[17, 1] = np.nan
    _write(tmp_path, np.arange(200, dtype=np.int64), X, 1, rng)
    with pytest.raises(InvalidInputError, match=r"s0\.parquet: .*NaN"):
        score_shards(tmp_path, strategy="kmeans_equal", batch_size=5)


@pytest.mark.parametrize("strategy", ["k_center_greedy", "kmeans_equal"])
def test_errors_the_footers_show_come_as_one_line_before_any_progress(
    tmp_path, monkeypatch, capsys, strategy
):
    from labelwise.cli import main

    pq.write_table(pa.table({"id": np.arange(50), "name": ["x"] * 50}), tmp_path / "s.parquet")
    args = ["labelwise", "score", "--data", str(tmp_path), "--strategy", strategy]
    monkeypatch.setattr(sys, "argv", [*args, "--batch", "5", "--out", str(tmp_path / "p.csv")])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"error: {tmp_path / 's.parquet'}: {strategy} needs numeric feature columns besides the id."
    ]


def test_progress_restarts_each_pass_and_counts_the_passes(blobs):
    # a bar over all passes would fill after the first one; each pass counts its own rows
    folder, ids, _ = blobs

    class Record:
        def __init__(self):
            self.calls = []

        def update(self, rows, shards_done, pass_no=None):
            self.calls.append((pass_no, rows, shards_done))

    rec = Record()
    sel = kmeans_select(open_shards(folder), 10, random_state=0, progress=rec)
    passes = [c[0] for c in rec.calls]
    assert passes == sorted(passes) and passes[0] == 1
    assert passes[-1] == sel.info["passes"] >= 2  # seeding, then at least one Lloyd pass
    for p in set(passes):
        rows = [c[1] for c in rec.calls if c[0] == p]
        done = [c[2] for c in rec.calls if c[0] == p]
        assert rows[-1] == ids.size and rows == sorted(rows)  # every row once per pass
        assert done == list(range(1, 7))  # 6 shards
