"""The bench's preprocessing fits the features: embeddings are not standardised, tables are."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.errors import InvalidInputError
from labelwise.loop._bench import run_bench, split_pool_test
from labelwise.loop._preprocess import choose_preprocessing, feature_kind
from labelwise.loop._recommend import full_data_metric


def _embeddings(n=300, d=200, seed=0):
    """Unit-length rows: the class lives in 2 strong dimensions, 198 weak ones are noise.

    Standardising blows the weak dimensions up to the size of the strong ones.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    strong = rng.normal(size=(n, 2)) + np.column_stack([2.0 * y - 1.0, np.zeros(n)])
    weak = rng.normal(scale=0.02, size=(n, d - 2))
    X = np.hstack([strong, weak])
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


def test_feature_kind_tells_embeddings_from_tables():
    X, _ = _embeddings()
    assert feature_kind(X)[0] == "embedding"  # unit-length rows
    assert feature_kind(X * 3.0)[0] == "embedding"  # 200 dense columns on one scale
    rng = np.random.default_rng(0)
    table = np.column_stack([rng.integers(18, 90, 200), rng.normal(50_000, 9_000, 200)])
    assert feature_kind(table)[0] == "tabular"
    pixels = rng.integers(0, 17, size=(200, 64)).astype(float)  # integer-valued: a table
    assert feature_kind(pixels)[0] == "tabular"


def test_auto_l2_normalises_embeddings_and_standardises_tables_on_the_pool():
    X, _ = _embeddings()
    prep = choose_preprocessing(X * 3.0)
    assert (prep.method, prep.asked) == ("l2", "auto")
    Xp, Xt = prep.apply(X[:10] * 3.0, X[10:20] * 3.0)
    # unit rows (X already has them), divided by one number: their mean column std on the pool
    scale = X[:10].std(axis=0).mean()
    np.testing.assert_allclose(Xp, X[:10] / scale)
    np.testing.assert_allclose(Xt, X[10:20] / scale)
    np.testing.assert_allclose(np.linalg.norm(Xp, axis=1), 1.0 / scale)

    pool = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    test = np.array([[7.0, 4.0]])
    prep = choose_preprocessing(pool)
    assert prep.method == "standardize"
    Xp, Xt = prep.apply(pool, test)
    # pool mean (3, 10), std (sqrt(8/3), 0 -> 1): the test row uses the pool's statistics
    np.testing.assert_allclose(Xt, [[4.0 / np.sqrt(8.0 / 3.0), -6.0]])
    np.testing.assert_allclose(Xp[:, 1], 0.0)


def test_unknown_preprocess_is_refused_with_the_choices():
    with pytest.raises(InvalidInputError, match="standardize, l2, none"):
        choose_preprocessing(np.ones((3, 2)), "zscore")


def test_bench_does_not_standardise_embeddings_and_says_what_ran():
    X, y = _embeddings()
    full = full_data_metric(X, y, seeds=[0, 1], model="logreg", test_size=0.4, metric="accuracy")
    # independent: scikit-learn on the unit rows of the same splits, scaled by one pool number
    ref = []
    for seed in (0, 1):
        pool, test = split_pool_test(X.shape[0], 0.4, np.random.default_rng(seed))
        scale = X[pool].std(axis=0).mean()
        lr = LogisticRegression(max_iter=1000, random_state=seed).fit(X[pool] / scale, y[pool])
        ref.append(lr.score(X[test] / scale, y[test]))
    assert full == pytest.approx(np.mean(ref))
    standardised = full_data_metric(
        X, y, seeds=[0, 1], model="logreg", test_size=0.4, metric="accuracy",
        preprocess="standardize",
    )  # fmt: skip
    assert full > standardised + 0.03  # the noise dimensions hurt once standardised (0.77/0.71)

    res = run_bench(X, y, model="logreg", strategies=["random"], seeds=[0], batch_size=40,
                    budget=80, initial=10)  # fmt: skip
    assert res["preprocessing"]["method"] == "l2"
    assert res["preprocessing"]["asked"] == "auto"
    assert "unit length" in res["preprocessing"]["why"]


def test_cli_bench_prints_preprocessing_and_refuses_a_bad_value(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "never"
    r = runner.invoke(app, ["bench", "--data", "iris", "--preprocess", "zscore", "--out", str(bad)])
    # a user error (main() prints it as one line, exit code 2), raised before any output
    assert isinstance(r.exception, InvalidInputError)
    assert "--preprocess must be one of auto, standardize, l2, none" in str(r.exception)
    assert not bad.exists()
    out = tmp_path / "b"
    r = runner.invoke(
        app,
        ["bench", "--data", "iris", "--model", "logreg", "--strategies", "auto,random",
         "--initial", "6", "--batch", "10", "--budget", "20", "--seeds", "1", "--out", str(out)],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "preprocessing: standardize (auto: columns of a table" in r.output
