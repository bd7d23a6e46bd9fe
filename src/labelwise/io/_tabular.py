"""Load labeled tabular data for the bench: CSV, .npz, svmlight files or bundled sets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelwise.errors import DataFileError

__all__ = ["Dataset", "BUNDLED", "load_dataset"]

#: scikit-learn's bundled data sets, available offline.
BUNDLED = ("digits", "breast_cancer", "wine", "iris", "diabetes")
SVMLIGHT_SUFFIXES = (".svm", ".libsvm", ".txt", ".svmlight")


@dataclass
class Dataset:
    """Features, labels and where they came from."""

    X: np.ndarray
    y: np.ndarray
    name: str
    feature_names: list[str]
    target_names: list[str] | None = None
    cost: np.ndarray | None = None


def load_dataset(
    spec: str, *, target: str | None = None, cost_column: str | None = None
) -> Dataset:
    """Load a data set by bundled name or path.

    Parameters
    ----------
    spec : str
        ``digits``, ``breast_cancer``, ``wine``, ``iris``, ``diabetes`` (regression),
        or a path to a CSV file
        (needs ``target``), an ``.npz`` with arrays ``X`` and ``y``, or an
        svmlight/LIBSVM text file (``.svm``, ``.libsvm``, ``.txt``).
    target : str, optional
        The label column of a CSV file; a comma list of 0/1 columns for multi-label.
    cost_column : str, optional
        A CSV column with each row's labeling cost (> 0; e.g. seconds per label). It is
        taken out of the features.

    Raises
    ------
    DataFileError
        Missing or unreadable file, missing target column, non-numeric feature
        columns, NaN/inf features (naming the columns).
    """
    if spec in BUNDLED:
        return _bundled(spec)
    path = Path(spec)
    if not path.exists():
        raise DataFileError(
            f"data file {spec!r} not found; give a path to a CSV, .npz or svmlight file, "
            f"or one of the bundled data sets: {', '.join(BUNDLED)}."
        )
    if path.is_dir():
        raise DataFileError(f"{spec!r} is a folder; --data needs a file.")
    suffix = path.suffix.lower()
    if cost_column is not None and suffix != ".csv":
        raise DataFileError(f"{spec!r}: --cost-column needs a CSV file.")
    if suffix == ".csv":
        ds = _csv(path, target, cost_column)
    elif suffix == ".npz":
        ds = _npz(path)
    elif suffix in SVMLIGHT_SUFFIXES:
        ds = _svmlight(path)
    else:
        raise DataFileError(
            f"{spec!r}: unknown file type {suffix!r}; use .csv, .npz, or an svmlight file "
            f"({', '.join(SVMLIGHT_SUFFIXES)})."
        )
    _check_finite(ds, spec)
    if ds.X.shape[0] == 0:
        raise DataFileError(f"{spec!r} has no rows.")
    return ds


def _bundled(name: str) -> Dataset:
    from sklearn import datasets

    d = getattr(datasets, f"load_{name}")()
    names = [str(f) for f in getattr(d, "feature_names", [])] or [
        f"x{i}" for i in range(d.data.shape[1])
    ]
    return Dataset(np.asarray(d.data, dtype=np.float64), np.asarray(d.target), name, names)


def _csv(path: Path, target: str | None, cost_column: str | None = None) -> Dataset:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataFileError(f"{path}: cannot read as CSV ({e}).") from None
    cols = [str(c) for c in df.columns]
    if target is None:
        raise DataFileError(
            f"{path}: name the label column with --target; the columns are: {', '.join(cols)}."
        )
    targets = [t.strip() for t in target.split(",") if t.strip()]
    for t in targets:
        if t not in df.columns:
            from labelwise.errors import did_you_mean

            raise DataFileError(
                f"{path}: target column {t!r} not found; the columns are: {', '.join(cols)}."
                + did_you_mean(t, cols)
            )
    for t in targets:
        missing = df[t].isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0]) + 2  # 1-based, after the header
            raise DataFileError(f"{path}, line {row}: the target {t!r} is empty; label every row.")
    if len(targets) == 1:
        y = df[targets[0]].to_numpy()
    else:  # several 0/1 columns: a multi-label target
        y = df[targets].to_numpy()
        if not np.isin(y, (0, 1)).all():
            raise DataFileError(
                f"{path}: with several --target columns (multi-label) each must hold 0 or 1."
            )
        y = y.astype(int)
    cost = None
    if cost_column is not None:
        if cost_column not in df.columns:
            raise DataFileError(
                f"{path}: cost column {cost_column!r} not found; the columns are: "
                f"{', '.join(cols)}."
            )
        c = pd.to_numeric(df[cost_column], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(c) | (c <= 0))
        if bad.size:
            raise DataFileError(
                f"{path}, line {int(bad[0]) + 2}: cost "
                f"{str(df[cost_column].iloc[bad[0]])!r} in column "
                f"{cost_column!r} must be a number > 0 ({bad.size} such row(s)); fix or drop them."
            )
        cost = c
    feats = df.drop(columns=targets + ([cost_column] if cost_column else []))
    non_numeric = [str(c) for c in feats.columns if not pd.api.types.is_numeric_dtype(feats[c])]
    if non_numeric:
        raise DataFileError(
            f"{path}: column(s) {', '.join(repr(c) for c in non_numeric)} are not numeric; "
            "drop or encode them (the bench uses numeric features)."
        )
    if feats.shape[1] == 0:
        raise DataFileError(f"{path}: no feature columns besides the target {target!r}.")
    return Dataset(
        feats.to_numpy(dtype=np.float64),
        y,
        path.stem,
        [str(c) for c in feats.columns],
        targets,
        cost,
    )


def _npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("X", "y") if k not in z.files]
            if missing:
                raise DataFileError(
                    f"{path}: missing array(s) {missing}; the file must hold 'X' "
                    f"(n_samples, n_features) and 'y' (n_samples,); it has {z.files}."
                )
            X, y = np.asarray(z["X"]), np.asarray(z["y"])
    except (OSError, ValueError) as e:
        if isinstance(e, DataFileError):
            raise
        raise DataFileError(f"{path}: cannot read as .npz ({e}).") from None
    if X.ndim != 2 or y.ndim not in (1, 2) or X.shape[0] != y.shape[0]:
        raise DataFileError(
            f"{path}: X must be 2-D and y 1-D (or a 2-D 0/1 multi-label matrix) with one row "
            f"per sample; got X {X.shape}, y {y.shape}."
        )
    if not np.issubdtype(X.dtype, np.number):
        raise DataFileError(f"{path}: X must be numeric, got dtype {X.dtype}.")
    return Dataset(X.astype(np.float64), y, path.stem, [f"x{i}" for i in range(X.shape[1])])


def _svmlight(path: Path) -> Dataset:
    from sklearn.datasets import load_svmlight_file

    try:
        X, y = load_svmlight_file(str(path))
    except (ValueError, OSError) as e:
        raise DataFileError(f"{path}: cannot read as svmlight/LIBSVM ({e}).") from None
    X = X.toarray()
    if np.all(np.mod(y, 1) == 0):
        y = y.astype(np.int64)
    return Dataset(X, y, path.stem, [f"x{i}" for i in range(X.shape[1])])


def _check_finite(ds: Dataset, spec: str) -> None:
    bad = ~np.isfinite(ds.X)
    if bad.any():
        cols = np.flatnonzero(bad.any(axis=0))
        names = [ds.feature_names[c] for c in cols[:5]]
        row = int(np.flatnonzero(bad[:, cols[0]])[0])
        raise DataFileError(
            f"{spec}: NaN or inf in column(s) {', '.join(repr(n) for n in names)} "
            f"(first at data row {row + 1}); impute or drop them."
        )
