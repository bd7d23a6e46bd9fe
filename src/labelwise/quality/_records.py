"""Validation and shared views of a label-records table.

A *records* table has one row per label given by a person, with the columns
``sample``, ``annotator``, ``value``, ``created_at``, ``duration``, ``round`` and
``gold`` (and optionally ``unsure``). Each public function checks only the
columns it uses and raises :class:`~labelwise.errors.InvalidInputError` naming
the first missing column or bad value.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from labelwise.errors import InvalidInputError

#: Columns every quality function needs.
BASE_COLUMNS = ("sample", "annotator", "value", "gold")
#: Internal column holding each row's position in time order (ties keep row order).
SEQ = "_seq"


def _first_bad(mask: np.ndarray, index: pd.Index) -> str:
    return repr(index[np.flatnonzero(mask)[0]])


def check_records(records, *, required: Iterable[str] = BASE_COLUMNS) -> pd.DataFrame:
    """Validate a records table and return a clean copy in time order.

    The copy has string ``sample``, ``annotator`` and ``value`` columns, a boolean
    ``gold`` column, ``created_at`` as UTC timestamps (when present), float
    ``duration`` and ``round`` (when present), a boolean ``unsure`` (when present)
    and an integer column ``_seq``: the row's position when sorted by
    ``created_at`` (rows with equal times, or every row when there is no
    ``created_at`` column, keep their order in ``records``).
    """
    required = tuple(required)
    if not isinstance(records, pd.DataFrame):
        raise InvalidInputError(
            "records must be a pandas DataFrame with columns "
            f"{', '.join(required)}; got {type(records).__name__}."
        )
    missing = [c for c in required if c not in records.columns]
    if missing:
        raise InvalidInputError(
            f"records is missing column {missing[0]!r} (needs {', '.join(required)}; "
            f"has {', '.join(map(str, records.columns)) or 'no columns'})."
        )
    keep = [
        c
        for c in (*BASE_COLUMNS, "created_at", "duration", "round", "unsure")
        if c in records.columns
    ]
    df = records[keep].reset_index(drop=True)
    idx = records.index

    for col in ("sample", "annotator", "value"):
        if col in df.columns:
            null = df[col].isna().to_numpy()
            if null.any():
                raise InvalidInputError(
                    f"records[{col!r}] is missing a value in row {_first_bad(null, idx)}."
                )
            df[col] = df[col].astype(str)

    for col in ("gold", "unsure"):
        if col in df.columns:
            df[col] = _as_bool(df[col], col, idx, na=False if col == "unsure" else None)

    if "created_at" in df.columns:
        try:
            with warnings.catch_warnings():  # "could not infer format": we report below
                warnings.simplefilter("ignore", UserWarning)
                ts = pd.to_datetime(df["created_at"], utc=True)
        except (ValueError, TypeError) as e:
            raise InvalidInputError(
                f"records['created_at'] must hold datetimes; could not read it ({e})."
            ) from None
        null = ts.isna().to_numpy()
        if null.any():
            raise InvalidInputError(
                f"records['created_at'] is missing a value in row {_first_bad(null, idx)}."
            )
        df["created_at"] = ts

    for col in ("duration", "round"):
        if col in df.columns:
            num = pd.to_numeric(df[col], errors="coerce").astype(np.float64)
            bad = (num.isna() & df[col].notna()).to_numpy().copy()
            bad |= np.isinf(num.to_numpy())
            if col == "duration":
                bad |= (num < 0).to_numpy()
            if bad.any():
                i = np.flatnonzero(bad)[0]
                what = "non-negative seconds or NaN" if col == "duration" else "a number or NaN"
                raise InvalidInputError(
                    f"records[{col!r}] must be {what}; row {idx[i]!r} has {df[col].iloc[i]!r}."
                )
            df[col] = num

    if "created_at" in df.columns:
        order = np.lexsort((np.arange(len(df)), df["created_at"].to_numpy()))
    else:
        order = np.arange(len(df))
    df = df.iloc[order].reset_index(drop=True)
    df[SEQ] = np.arange(len(df), dtype=np.int64)
    return df


def _as_bool(s: pd.Series, col: str, idx: pd.Index, *, na: bool | None) -> pd.Series:
    values = s.to_numpy(dtype=object)
    null = s.isna().to_numpy()
    if na is not None:
        values = np.where(null, na, values)
        null = np.zeros(len(s), dtype=bool)
    ok = np.array([v is True or v is False or v in (0, 1) for v in values], dtype=bool)
    ok &= ~null
    if not ok.all():
        i = np.flatnonzero(~ok)[0]
        raise InvalidInputError(
            f"records[{col!r}] must be True or False; row {idx[i]!r} has {s.iloc[i]!r}."
        )
    return pd.Series(values.astype(bool), index=s.index)


def latest_votes(df: pd.DataFrame) -> pd.DataFrame:
    """Non-gold rows, one per (sample, annotator): the annotator's latest label."""
    votes = df[~df["gold"]]
    return votes.drop_duplicates(["sample", "annotator"], keep="last")


def check_gold(gold, df: pd.DataFrame) -> dict[str, str]:
    """Validate the ``gold`` mapping against the gold rows of ``df``."""
    if not isinstance(gold, Mapping):
        raise InvalidInputError(
            f"gold must be a dict mapping sample -> correct value; got {type(gold).__name__}."
        )
    answers = {str(k): str(v) for k, v in gold.items()}
    asked = df.loc[df["gold"], "sample"]
    unknown = asked[~asked.isin(list(answers))]
    if len(unknown):
        raise InvalidInputError(
            f"records has a gold row for sample {unknown.iloc[0]!r} but gold has no correct "
            "value for it."
        )
    return answers


def check_int(value, name: str, *, minimum: int) -> int:
    """Validate an integer argument that must be at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_classes(classes) -> list[str]:
    """Validate a list of class names: at least two, unique; returned as strings."""
    if isinstance(classes, str) or not isinstance(classes, Sequence | np.ndarray | pd.Index):
        raise InvalidInputError(f"classes must be a list of class names; got {classes!r}.")
    names = [str(c) for c in classes]
    if len(names) < 2:
        raise InvalidInputError(f"classes needs at least 2 class names; got {names}.")
    seen: set[str] = set()
    for c in names:
        if c in seen:
            raise InvalidInputError(f"classes lists {c!r} twice.")
        seen.add(c)
    return names


def check_samples(samples, n_rows: int, name: str) -> list[str]:
    """Validate sample ids aligned with the ``n_rows`` rows of ``name``."""
    if isinstance(samples, str) or not isinstance(samples, Sequence | np.ndarray | pd.Index):
        raise InvalidInputError(f"samples must be a list of sample ids; got {samples!r}.")
    ids = [str(s) for s in samples]
    if len(ids) != n_rows:
        raise InvalidInputError(
            f"samples has {len(ids)} ids but {name} has {n_rows} rows; they must be aligned."
        )
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise InvalidInputError(f"samples lists {ids[int(np.flatnonzero(dup)[0])]!r} twice.")
    return ids
