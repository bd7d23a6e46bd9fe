"""embed --shards N: the features as N Parquet shards, one version, read back unchanged."""

import json
import tracemalloc

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.embed import compute_features, load_features
from labelwise.embed._shards import feature_shards, write_sharded
from labelwise.errors import InvalidInputError
from labelwise.io._samples import import_pool
from labelwise.store import Project, ProjectError


@pytest.fixture()
def project(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1_003, 5))
    lines = ["id," + ",".join(f"c{j}" for j in range(5))]
    lines += [f"s{i}," + ",".join(f"{v:.6f}" for v in X[i]) for i in range(len(X))]
    (tmp_path / "pool.csv").write_text("\n".join(lines) + "\n")
    p = Project.init(tmp_path / "p", classes=["a", "b"])
    import_pool(p, tmp_path / "pool.csv", id_column="id")
    yield p
    p.close()


def test_shards_hold_the_same_features_as_the_matrix_in_sample_order(project):
    one = compute_features(project)
    X1, ids1, _ = load_features(project)
    art = compute_features(project, shards=4)
    assert (one.version, art.version) == (1, 2)  # a features version like any other
    assert art.info["shards"] == 4 and art.info["n_samples"] == 1_003
    paths = feature_shards(project)
    assert len(paths) == 4
    tables = [pq.read_table(p) for p in paths]
    assert [t.num_rows for t in tables] == [250, 251, 251, 251]  # np.linspace split
    assert tables[0].column_names == ["id", "f_0", "f_1", "f_2", "f_3", "f_4"]
    assert all(str(t.schema.field("f_0").type) == "float" for t in tables)  # float32
    ids = np.concatenate([t.column("id").to_numpy() for t in tables])
    X = np.column_stack(
        [np.concatenate([t.column(f"f_{j}").to_numpy() for t in tables]) for j in range(5)]
    )
    np.testing.assert_array_equal(ids, ids1)
    np.testing.assert_array_equal(X, X1)
    X2, ids2, v = load_features(project)  # every other command reads them back whole
    assert v == 2
    np.testing.assert_array_equal(X2, X1)
    np.testing.assert_array_equal(ids2, ids1)


def test_a_changed_shard_is_refused(project):
    compute_features(project, shards=2)
    path = feature_shards(project)[1]
    with open(path, "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ProjectError, match="does not match its recorded checksum"):
        feature_shards(project)


@pytest.mark.parametrize("bad", [0, -2, 1_004])
def test_bad_shard_counts_are_one_line_naming_the_flag_and_store_nothing(project, bad):
    r = CliRunner().invoke(app, ["embed", str(project.path), "--shards", str(bad)])
    assert isinstance(r.exception, InvalidInputError)
    msg = str(r.exception)
    assert "--shards" in msg and "1,003" in msg and "\n" not in msg
    assert project.latest_artifact("features") is None
    assert not list((project.path / "artifacts").iterdir())


def test_writing_holds_one_shard_at_a_time_not_a_second_matrix(project, tmp_path):
    X = np.random.default_rng(1).normal(size=(40_000, 30))  # float64, 9.6 MB
    ids = np.arange(X.shape[0], dtype=np.int64)
    tracemalloc.start()
    try:
        write_sharded(project, X, ids, 10, {"method": "tabular"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a float32 copy of the whole matrix alone would be X.nbytes / 2; one shard is a tenth
    assert peak < 0.2 * X.nbytes
    manifest = json.loads((project.path / "artifacts" / "features-v1.shards.json").read_text())
    assert sum(s["rows"] for s in manifest["shards"]) == 40_000
