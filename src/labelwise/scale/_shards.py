"""A pool stored as Parquet shards: find them, check their columns, read them in batches.

Only the footers are read up front (row counts and schemas); rows are read one
batch at a time. Every shard must have the same columns. The roles of the
columns: the id column (``--id-column``, unique over the pool, integers or
strings), the probability columns (names starting with a prefix, e.g. ``p_``)
and the feature columns (every other numeric column, in file order).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelwise.errors import DataFileError, InvalidInputError, shorten

__all__ = ["ShardSet", "open_shards", "read_batches", "read_shard", "canonical_ids"]


@dataclass(frozen=True)
class ShardSet:
    """The shards of one pool and the role of each column.

    Attributes
    ----------
    paths : tuple of str
        Absolute shard paths, sorted.
    rows : tuple of int
        Rows of each shard (from the Parquet footers).
    id_column : str
    proba_columns : tuple of str
        Columns starting with the probability prefix (empty without one).
    feature_columns : tuple of str
        Every other numeric column, in file order.
    """

    paths: tuple[str, ...]
    rows: tuple[int, ...]
    id_column: str
    proba_columns: tuple[str, ...]
    feature_columns: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        """Rows in the whole pool."""
        return int(sum(self.rows))


def _expand(data: str | os.PathLike | list) -> list[str]:
    """Shard paths from a glob pattern, a folder (its ``*.parquet``), a file or a list."""
    if isinstance(data, list | tuple):
        found = [str(p) for p in data]
    else:
        text = str(data)
        if Path(text).is_dir():
            found = glob.glob(os.path.join(text, "*.parquet"))
        elif glob.has_magic(text):
            found = glob.glob(text)
        else:
            found = [text] if Path(text).exists() else []
    paths = sorted({os.path.abspath(p) for p in found if Path(p).is_file()})
    if not paths:
        raise DataFileError(
            f"no Parquet shards match {shorten(str(data))}; pass a pattern such as "
            "--data 'shards/*.parquet' (quoted, so the shell leaves it to labelwise) or a folder."
        )
    return paths


def open_shards(data, *, id_column: str = "id", proba_prefix: str | None = None) -> ShardSet:
    """Find the shards and check that they agree on their columns.

    Parameters
    ----------
    data : str, path or list of paths
        A glob pattern (``'shards/*.parquet'``), a folder of ``*.parquet`` files, a file,
        or a list of files.
    id_column : str, default="id"
    proba_prefix : str or None
        Columns whose names start with it hold class probabilities.

    Raises
    ------
    DataFileError
        No shard matches, a shard is unreadable, or the shards disagree on their columns.
    InvalidInputError
        The id column is missing or not integers/strings, or fewer than 2 columns start
        with ``proba_prefix``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = _expand(data)
    rows, schema, first = [], None, paths[0]
    for path in paths:
        try:
            meta = pq.ParquetFile(path).metadata
            s = meta.schema.to_arrow_schema()
        except (OSError, pa.ArrowException) as e:
            raise DataFileError(f"{path}: not a readable Parquet file ({e}).") from e
        if schema is None:
            schema = s
        elif s.names != schema.names or s.types != schema.types:
            diff = sorted(set(s.names) ^ set(schema.names)) or [
                n for n, a, b in zip(s.names, s.types, schema.types, strict=False) if a != b
            ]
            raise DataFileError(
                f"{path}: its columns differ from those of {first} (at {shorten(diff)}); "
                "every shard must have the same columns and types."
            )
        rows.append(int(meta.num_rows))
    if id_column not in schema.names:
        raise InvalidInputError(
            f"{first} has no id column {id_column!r}; its columns are "
            f"{shorten(schema.names, 120)}. Name the id column with --id-column."
        )
    t = schema.field(id_column).type
    if not (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise InvalidInputError(
            f"{first}: id column {id_column!r} is {t}; ids must be integers or strings."
        )
    proba = ()
    if proba_prefix is not None:
        proba = tuple(n for n in schema.names if n.startswith(proba_prefix) and n != id_column)
        if len(proba) < 2:
            raise InvalidInputError(
                f"{first}: {len(proba)} column(s) start with {proba_prefix!r}; "
                "--proba-columns needs one probability column per class (at least 2)."
            )
        bad = [n for n in proba if not pa.types.is_floating(schema.field(n).type)]
        if bad:
            raise InvalidInputError(
                f"{first}: probability column(s) {shorten(bad)} are not floating point."
            )
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
    features = tuple(
        n
        for n in schema.names
        if n != id_column and n not in proba and any(f(schema.field(n).type) for f in numeric)
    )
    return ShardSet(tuple(paths), tuple(rows), id_column, proba, features)


def canonical_ids(ids) -> np.ndarray:
    """Ids as int64, or as an object array of str: one order for every engine."""
    a = np.asarray(ids)
    if a.dtype.kind in "iu":
        return a.astype(np.int64, copy=False)
    return np.asarray([str(v) for v in a.tolist()], dtype=object)


def _to_numpy(batch) -> dict[str, np.ndarray]:
    return {
        n: batch.column(i).to_numpy(zero_copy_only=False) for i, n in enumerate(batch.schema.names)
    }


def read_batches(path: str, columns: list[str], batch_size: int):
    """Yield a shard's rows as dicts of column arrays, ``batch_size`` rows at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns):
            yield _to_numpy(batch)
    except (OSError, pa.ArrowException) as e:
        raise DataFileError(f"{path}: could not read the shard ({e}).") from e


def read_shard(path: str, columns: list[str]) -> dict[str, np.ndarray]:
    """A whole shard as a dict of column arrays (the diversity selectors need it whole)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowException) as e:
        raise DataFileError(f"{path}: could not read the shard ({e}).") from e
    return {n: table.column(n).to_numpy() for n in columns}
