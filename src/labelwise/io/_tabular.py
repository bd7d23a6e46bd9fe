"""Load labeled tabular data for the bench: CSV, .npz, svmlight files or bundled sets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelwise.errors import DataFileError, shorten

__all__ = ["Dataset", "BUNDLED", "load_dataset"]

#: scikit-learn's bundled data sets, available offline.
BUNDLED = ("digits", "breast_cancer", "wine", "iris", "diabetes")
SVMLIGHT_SUFFIXES = (".svm", ".libsvm", ".txt", ".svmlight")
#: Bench data is held dense as float64: a file whose features would take more
#: (rows x features x 8 bytes) is refused before anything is allocated.
MAX_DENSE_BYTES = 2 * 2**30
#: The most features (columns) a bench data file may have.
MAX_FEATURES = 1_000_000


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
    spec: str,
    *,
    target: str | None = None,
    cost_column: str | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
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
    text_column : str, optional
        A CSV column of text: the features are then its TF-IDF + SVD embedding, as
        ``labelwise embed`` computes for text (the other columns are not used).
    id_column : str, optional
        A CSV column of sample ids: taken out of the features.

    Raises
    ------
    DataFileError
        Missing or unreadable file, missing target column, non-numeric feature
        columns, NaN/inf features (naming the columns).
    """
    columns = {"--cost-column": cost_column, "--text-column": text_column, "--id-column": id_column}
    named = [flag for flag, col in columns.items() if col is not None]
    if spec in BUNDLED:
        if named:
            raise DataFileError(
                f"{named[0]} names a column of a CSV file; the bundled set {spec!r} has none."
            )
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
    if named and suffix != ".csv":
        raise DataFileError(f"{spec!r}: {named[0]} needs a CSV file.")
    if suffix == ".csv":
        ds = _csv(path, target, cost_column, text_column, id_column)
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


def _csv(
    path: Path,
    target: str | None,
    cost_column: str | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
) -> Dataset:
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
    for flag, col in (("--text-column", text_column), ("--id-column", id_column)):
        if col is None:
            continue
        if col not in df.columns:
            from labelwise.errors import did_you_mean

            raise DataFileError(
                f"{path}: {flag} {col!r} is not a column; the columns are: {', '.join(cols)}."
                + did_you_mean(col, cols)
            )
        if col in targets or col == cost_column:
            other = "--target" if col in targets else "--cost-column"
            raise DataFileError(
                f"{path}: {flag} {col!r} is also the {other}; name a different column."
            )
    if text_column is not None and text_column == id_column:
        raise DataFileError(
            f"{path}: --text-column and --id-column are both {text_column!r}; name two columns."
        )
    if text_column is not None:
        X = _embed_text(path, df[text_column], text_column)
        names = [f"{text_column}_svd{i}" for i in range(X.shape[1])]
        return Dataset(X, y, path.stem, names, targets, cost)
    feats = df.drop(columns=targets + [c for c in (cost_column, id_column) if c])
    non_numeric = [str(c) for c in feats.columns if not pd.api.types.is_numeric_dtype(feats[c])]
    if non_numeric:
        text, ident = _guess_text_and_id(feats[non_numeric])
        raise DataFileError(
            f"{path}: column(s) {', '.join(repr(c) for c in non_numeric)} are not numeric; "
            f"give --text-column {text or 'COL'} for a text column (embedded with TF-IDF as "
            f"'labelwise embed' does), --id-column {ident or 'COL'} for an id column, or drop "
            "or encode them."
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


def _guess_text_and_id(df) -> tuple[str | None, str | None]:
    """For the hint only: the column of longest multi-word strings; a column of unique values."""
    words = {
        str(c): df[c].astype(str).str.len().mean()
        for c in df.columns
        if df[c].astype(str).str.contains(r"\s", regex=True).mean() > 0.5
    }
    text = max(words, key=words.get) if words else None
    ids = [str(c) for c in df.columns if str(c) != text and df[c].notna().all() and df[c].is_unique]
    return text, (ids[0] if ids else None)


def _embed_text(path: Path, texts, column: str) -> np.ndarray:
    """The text column's TF-IDF + SVD features, as ``labelwise embed`` computes them."""
    from labelwise.embed._features import tfidf_features
    from labelwise.errors import InvalidInputError

    values = texts.tolist()
    for i, t in enumerate(values):
        if not isinstance(t, str) or not t.strip():
            raise DataFileError(
                f"{path}, line {i + 2}: the text in {column!r} is empty; fill or drop that row."
            )
    try:
        return np.asarray(tfidf_features(values), dtype=np.float64)
    except InvalidInputError as e:
        raise DataFileError(f"{path}: --text-column {column!r}: {e}") from None


def _npz(path: Path) -> Dataset:
    import zipfile
    import zlib

    try:
        z = np.load(path, allow_pickle=False, mmap_mode="r")
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise DataFileError(
                f"{path}: a single .npy array, not an .npz archive; save X and y with "
                "numpy.savez(path, X=X, y=y)."
            )
        with z:
            missing = [k for k in ("X", "y") if k not in z.files]
            if missing:
                raise DataFileError(
                    f"{path}: missing array(s) {missing}; the file must hold 'X' "
                    f"(n_samples, n_features) and 'y' (n_samples,); it has "
                    f"{shorten(z.files, 200)}."
                )
            for key in ("X", "y"):  # from the headers, before anything is decompressed
                _check_npy_size(path, z, key)
            X, y = np.asarray(z["X"]), np.asarray(z["y"])
    except DataFileError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise DataFileError(
            f"{path}: cannot read as .npz ({type(e).__name__}: {shorten(str(e), 200)}); "
            "is it truncated? Save it again with numpy.savez(path, X=X, y=y)."
        ) from None
    if X.ndim != 2 or y.ndim not in (1, 2) or X.shape[0] != y.shape[0]:
        raise DataFileError(
            f"{path}: X must be 2-D and y 1-D (or a 2-D 0/1 multi-label matrix) with one row "
            f"per sample; got X {X.shape}, y {y.shape}."
        )
    if not np.issubdtype(X.dtype, np.number):
        raise DataFileError(f"{path}: X must be numeric, got dtype {X.dtype}.")
    return Dataset(X.astype(np.float64), y, path.stem, [f"x{i}" for i in range(X.shape[1])])


def _check_npy_size(path: Path, z, key: str) -> None:
    """Refuse an array whose header declares more than :data:`MAX_DENSE_BYTES`."""
    import tokenize

    from numpy.lib import format as npy

    try:
        with z.zip.open(f"{key}.npy") as fh:
            version = npy.read_magic(fh)
            read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, _, dtype = read(fh)
    except (ValueError, TypeError, SyntaxError, tokenize.TokenError):  # numpy's header parser
        raise DataFileError(
            f"{path}: the header of array {key!r} is damaged; save the file again with "
            "numpy.savez(path, X=X, y=y)."
        ) from None
    n = 1
    for d in shape:
        n *= int(d)
    nbytes = n * max(dtype.itemsize, 8)  # held as float64 after loading
    if nbytes > MAX_DENSE_BYTES:
        raise DataFileError(
            f"{path}: array {key!r} of shape {shape} would take {nbytes / 2**30:,.1f} GiB; "
            f"bench data may take at most {MAX_DENSE_BYTES / 2**30:g} GiB. Subsample it."
        )


def _svmlight(path: Path) -> Dataset:
    from sklearn.datasets import load_svmlight_file

    try:
        X, y = load_svmlight_file(str(path))
    except (ValueError, OSError) as e:
        raise DataFileError(
            f"{path}: cannot read as svmlight/LIBSVM ({shorten(str(e), 200)})."
        ) from None
    n_rows, n_features = X.shape
    if n_features > MAX_FEATURES or n_rows * n_features * 8 > MAX_DENSE_BYTES:
        # name the first row that holds the largest feature index (X is still sparse here)
        where = str(path)
        if X.nnz:
            first = int(np.flatnonzero(X.indices == X.indices.max())[0])
            where += f", data row {int(np.searchsorted(X.indptr, first, side='right'))}"
        raise DataFileError(
            f"{where}: feature indices up to {n_features:,} make {n_rows:,} x {n_features:,} "
            f"dense features ({n_rows * n_features * 8 / 2**30:,.1f} GiB); the bench takes "
            f"at most {MAX_FEATURES:,} features and {MAX_DENSE_BYTES / 2**30:g} GiB. Check "
            "the file's feature indices."
        )
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
