"""Loading bench data: every format and every bad input named clearly."""

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, load_wine

from labelwise.errors import DataFileError
from labelwise.io import load_dataset


def test_bundled_sets_match_sklearn():
    X, y = load_wine(return_X_y=True)
    ds = load_dataset("wine")
    assert np.array_equal(ds.X, X) and np.array_equal(ds.y, y)
    assert ds.feature_names[0] == "alcohol"


def test_csv_npz_svmlight_roundtrip(tmp_path):
    X, y = load_wine(return_X_y=True)
    csv = tmp_path / "w.csv"
    cols = [f"f{i}" for i in range(X.shape[1])]
    lines = ["label," + ",".join(cols)] + [
        f"{t}," + ",".join(repr(float(v)) for v in row) for row, t in zip(X, y, strict=True)
    ]
    csv.write_text("\n".join(lines) + "\n")
    ds = load_dataset(str(csv), target="label")
    assert np.allclose(ds.X, X) and np.array_equal(ds.y, y) and ds.feature_names == cols
    np.savez(tmp_path / "w.npz", X=X, y=y)
    ds = load_dataset(str(tmp_path / "w.npz"))
    assert np.allclose(ds.X, X) and np.array_equal(ds.y, y)
    dump_svmlight_file(X, y, str(tmp_path / "w.svm"))
    ds = load_dataset(str(tmp_path / "w.svm"))
    assert np.allclose(ds.X, X) and np.array_equal(ds.y, y) and ds.y.dtype.kind == "i"


@pytest.mark.parametrize(
    ("content", "target", "message"),
    [
        (
            "a,b,y\n1,2,0\n3,4,1\n",
            "label",
            "target column 'label' not found; the columns are: a, b, y",
        ),
        ("a,b,y\n1,2,0\n3,4,1\n", None, "name the label column with --target"),
        ("a,b,y\n1,x,0\n3,4,1\n", "y", "column(s) 'b' are not numeric"),
        ("a,b,y\n1,2,0\n3,,1\n", "y", "NaN or inf in column(s) 'b' (first at data row 2)"),
        ("a,b,y\n1,2,0\n3,4,\n", "y", "line 3: the target 'y' is empty"),
    ],
)
def test_csv_errors_name_the_problem(tmp_path, content, target, message):
    p = tmp_path / "d.csv"
    p.write_text(content)
    with pytest.raises(DataFileError) as e:
        load_dataset(str(p), target=target)
    assert message in str(e.value) and "d.csv" in str(e.value)


def test_missing_file_wrong_type_and_bad_npz(tmp_path):
    with pytest.raises(DataFileError, match="not found.*bundled data sets"):
        load_dataset(str(tmp_path / "nope.csv"))
    (tmp_path / "d.parquetx").write_text("x")
    with pytest.raises(DataFileError, match="unknown file type"):
        load_dataset(str(tmp_path / "d.parquetx"))
    np.savez(tmp_path / "bad.npz", features=np.zeros((3, 2)))
    with pytest.raises(DataFileError, match=r"missing array\(s\) \['X', 'y'\]"):
        load_dataset(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "inf.npz", X=np.array([[1.0, np.inf], [0.0, 1.0]]), y=np.array([0, 1]))
    with pytest.raises(DataFileError, match="'x1'"):
        load_dataset(str(tmp_path / "inf.npz"))
