"""Bench data files that are damaged or would not fit in memory: named, refused before loading."""

import io
import resource
import time
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy

from labelwise.errors import DataFileError
from labelwise.io import _tabular, load_dataset


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture()
def good_npz(tmp_path):
    rng = np.random.default_rng(0)
    f = tmp_path / "data.npz"
    np.savez(f, X=rng.normal(size=(500, 20)), y=rng.integers(0, 2, 500))
    return f


def test_truncated_npz_names_the_file(good_npz):
    good_npz.write_bytes(good_npz.read_bytes()[: good_npz.stat().st_size // 2])
    with pytest.raises(DataFileError, match=r"data.npz: cannot read as .npz \(BadZipFile"):
        load_dataset(str(good_npz))


def test_npz_with_a_damaged_array_header(tmp_path):
    rng = np.random.default_rng(0)
    f = tmp_path / "data.npz"
    np.savez(f, X=rng.normal(size=(50, 4)), y=rng.integers(0, 2, 50))
    b = bytearray(f.read_bytes())
    start = b.index(b"{'descr'")
    b[start + 20 : start + 60] = b"\xff" * 40  # inside X's header dictionary
    f.write_bytes(bytes(b))
    # the zip's CRC or numpy's header parser notices, whichever reads first
    with pytest.raises(DataFileError, match="data.npz: (the header of array 'X'|cannot read)"):
        load_dataset(str(f))


def test_npy_named_npz(tmp_path):
    f = tmp_path / "data.npz"
    with open(f, "wb") as fh:
        np.save(fh, np.zeros((3, 2)))
    with pytest.raises(DataFileError, match="a single .npy array, not an .npz archive"):
        load_dataset(str(f))


def test_npz_declaring_a_huge_array_is_refused_from_its_header(tmp_path):
    head = io.BytesIO()
    npy.write_array_header_1_0(
        head, {"descr": "<f8", "fortran_order": False, "shape": (100_000, 100_000)}
    )
    f = tmp_path / "bomb.npz"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("X.npy", head.getvalue() + b"\0" * 64)
        z.writestr("y.npy", head.getvalue())
    # 1e10 float64 values: hand-worked 8e10 bytes = 74.5 GiB
    with pytest.raises(DataFileError, match=r"bomb.npz: array 'X' of shape .* 74.5 GiB"):
        load_dataset(str(f))


def test_svmlight_with_a_huge_feature_index_is_refused_before_allocating(tmp_path):
    f = tmp_path / "data.svm"
    f.write_text("".join(f"{i % 2} 1:0.5 {'3:1.0' if i else '999999999:1.0'}\n" for i in range(40)))
    before = peak_rss_mib()
    t0 = time.perf_counter()
    with pytest.raises(DataFileError, match=r"data.svm, data row 1: .* 1,000,000 features"):
        load_dataset(str(f))
    assert time.perf_counter() - t0 < 30
    assert peak_rss_mib() - before < 512  # 40 x 1e9 dense would be 298 GiB


def test_the_dense_budget_is_a_patchable_constant(tmp_path, monkeypatch):
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 10))
    dump_svmlight_file(X, np.arange(30) % 2, str(tmp_path / "d.svm"))
    assert load_dataset(str(tmp_path / "d.svm")).X.shape == (30, 10)
    monkeypatch.setattr(_tabular, "MAX_DENSE_BYTES", 30 * 10 * 8 - 1)  # one byte short
    with pytest.raises(DataFileError, match="30 x 10 dense features"):
        load_dataset(str(tmp_path / "d.svm"))
