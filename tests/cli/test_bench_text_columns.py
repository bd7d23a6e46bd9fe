"""bench and recommend on CSV files with a text column and an id column.

``--text-column`` embeds the text as ``labelwise embed`` does (TF-IDF + SVD,
L2-normalised; the reference is computed here with scikit-learn directly);
``--id-column`` leaves the id column out of the features.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from labelwise.cli import main
from labelwise.errors import DataFileError
from labelwise.io import load_dataset

SPORT = ["goal", "match", "team", "score", "league", "coach", "ball", "season"]
COOKING = ["recipe", "oven", "flour", "butter", "sauce", "garlic", "simmer", "pan"]


def run_cli(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["labelwise", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        main()
    cap = capsys.readouterr()
    return e.value.code or 0, cap.out, cap.err


@pytest.fixture()
def text_csv(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(120):
        words = SPORT if i % 2 else COOKING
        rows.append(
            {
                "id": f"doc-{i}",
                "body": " ".join(rng.choice(words, size=8)),
                "label": "sport" if i % 2 else "cooking",
                "length": 8,
            }
        )
    df = pd.DataFrame(rows)
    path = tmp_path / "texts.csv"
    df.to_csv(path, index=False)
    return path, df


def _reference_tfidf(texts):
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    M = TfidfVectorizer(sublinear_tf=True, max_features=50_000, min_df=1).fit_transform(texts)
    k = min(256, M.shape[0] - 1, M.shape[1] - 1)
    return normalize(TruncatedSVD(n_components=k, random_state=0).fit_transform(M))


def test_text_column_is_embedded_like_embed(text_csv):
    path, df = text_csv
    ds = load_dataset(str(path), target="label", text_column="body", id_column="id")
    want = _reference_tfidf(df["body"].tolist())
    assert ds.X.shape == want.shape == (120, 15)  # 16 words -> min(256, 119, 15) components
    np.testing.assert_allclose(ds.X, want, atol=1e-10)
    assert ds.y.tolist() == df["label"].tolist()


def test_id_column_is_left_out_of_the_features(tmp_path):
    df = pd.DataFrame(
        {"id": ["a1", "b2", "c3", "d4"], "f1": [1.0, 2.0, 3.0, 4.0], "f2": [0, 1, 0, 1]}
    )
    df["y"] = [0, 1, 0, 1]
    path = tmp_path / "rows.csv"
    df.to_csv(path, index=False)
    ds = load_dataset(str(path), target="y", id_column="id")
    assert ds.feature_names == ["f1", "f2"]
    np.testing.assert_array_equal(ds.X, [[1, 0], [2, 1], [3, 0], [4, 1]])
    with pytest.raises(
        DataFileError, match=r"'id'.* not numeric; give --text-column COL .*--id-column id "
    ):
        load_dataset(str(path), target="y")


def test_column_flag_errors(text_csv, tmp_path):
    path, df = text_csv
    with pytest.raises(
        DataFileError, match=r"--text-column 'bdy' is not a column.*Did you mean 'body'"
    ):
        load_dataset(str(path), target="label", text_column="bdy")
    with pytest.raises(DataFileError, match="--id-column 'label' is also the --target"):
        load_dataset(str(path), target="label", id_column="label")
    with pytest.raises(DataFileError, match="bundled set 'iris' has none"):
        load_dataset("iris", text_column="body")
    np.savez(tmp_path / "d.npz", X=np.zeros((3, 2)), y=[0, 1, 0])
    with pytest.raises(DataFileError, match="--id-column needs a CSV file"):
        load_dataset(str(tmp_path / "d.npz"), id_column="id")
    df.loc[5, "body"] = None
    df.to_csv(tmp_path / "hole.csv", index=False)
    with pytest.raises(DataFileError, match=r"hole.csv, line 7: the text in 'body' is empty"):
        load_dataset(str(tmp_path / "hole.csv"), target="label", text_column="body")
    df.loc[:, "body"] = "..."
    df.to_csv(tmp_path / "dots.csv", index=False)
    with pytest.raises(DataFileError, match="no words to embed"):
        load_dataset(str(tmp_path / "dots.csv"), target="label", text_column="body")


def test_bench_and_recommend_take_a_text_column(text_csv, tmp_path, capsys, monkeypatch):
    path, _ = text_csv
    common = ["--data", path, "--target", "label", "--text-column", "body", "--id-column", "id"]
    rc, out, err = run_cli(
        capsys, monkeypatch, "bench", *common, "--model", "logreg",
        "--strategies", "margin,random", "--initial", "10", "--batch", "10",
        "--budget", "20", "--seeds", "1", "--out", tmp_path / "b", "--json",
    )  # fmt: skip
    assert rc == 0, err
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    assert set(res["strategies"]) == {"margin", "random"}
    assert res["strategies"]["margin"]["labels"] == [10, 20, 30]
    rc, out, err = run_cli(
        capsys, monkeypatch, "recommend", *common, "--strategies", "margin",
        "--initial", "10", "--batch", "10", "--budget", "20", "--seeds", "1",
        "--out", tmp_path / "r", "--json",
    )  # fmt: skip
    assert rc == 0, err
    rec = json.loads((tmp_path / "r" / "recommendation.json").read_text())
    assert rec["recommended"] == rec["ranking"][0]["strategy"]


def test_bench_without_text_column_says_which_flag(text_csv, tmp_path, capsys, monkeypatch):
    path, _ = text_csv
    rc, out, err = run_cli(
        capsys, monkeypatch, "bench", "--data", path, "--target", "label",
        "--out", tmp_path / "b",
    )  # fmt: skip
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err
    # the hint names the columns to give: the long texts, and the unique ids
    assert "'id', 'body' are not numeric" in lines[0]
    assert "give --text-column body " in lines[0] and "--id-column id " in lines[0]
