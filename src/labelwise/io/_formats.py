"""Tables that labelwise writes for people: CSV (safe to open in a spreadsheet), JSONL, Parquet.

Every CSV labelwise writes (``labels export``, ``select --out`` batches, the
pipeline's round and label files) goes through :func:`csv_bytes`, which applies
the OWASP rule against CSV formula injection: a text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so
a spreadsheet shows it as text instead of running it. Plain numbers (``-1``,
``+0.5``) are left alone: a spreadsheet reads them as numbers, not formulas.

The escaping is reversible: a cell that starts with ``'`` and would be escaped
without it gets one more ``'``. :func:`unescape_cell` undoes exactly one level,
so reading a label file that labelwise wrote gives back the stored ids and labels,
and a file a person typed without quotes reads as typed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from labelwise.errors import DataFileError, InvalidInputError

__all__ = [
    "FORMULA_PREFIXES",
    "TABLE_FORMATS",
    "read_json",
    "csv_bytes",
    "escape_cell",
    "table_bytes",
    "table_format",
    "unescape_cell",
]

#: First characters that make a spreadsheet evaluate a cell (OWASP, "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: File extensions labelwise writes tables to, and the format of each.
TABLE_FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _needs_escape(text: str) -> bool:
    core = text.lstrip("'")
    return core[:1] in FORMULA_PREFIXES and _NUMBER.fullmatch(core) is None


def escape_cell(value):
    """Return ``value`` safe for a spreadsheet: a formula-like text gets a leading ``'``.

    Examples
    --------
    >>> escape_cell("=HYPERLINK(1)"), escape_cell("-1"), escape_cell("'=x"), escape_cell(3)
    ("'=HYPERLINK(1)", '-1', "''=x", 3)
    """
    if isinstance(value, str) and value and _needs_escape(value):
        return "'" + value
    return value


def unescape_cell(text: str) -> str:
    """Undo :func:`escape_cell` on a cell read from a CSV file.

    Examples
    --------
    >>> unescape_cell("'=x"), unescape_cell("''=x"), unescape_cell("'quoted"), unescape_cell("=x")
    ('=x', "'=x", "'quoted", '=x')
    """
    if text[:1] == "'" and _needs_escape(text[1:]):
        return text[1:]
    return text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """UTF-8 CSV of ``header`` and ``rows`` with every cell passed through :func:`escape_cell`."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([escape_cell(h) for h in header])
    w.writerows([escape_cell("" if v is None else v) for v in row] for row in rows)
    return buf.getvalue().encode()


def table_format(path: str | Path, *, what: str) -> str:
    """The format (``csv``, ``jsonl``, ``parquet``) a path's extension asks for.

    Raises
    ------
    InvalidInputError
        Any other extension, naming ``what`` (e.g. ``--out``) and the ones allowed.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise InvalidInputError(
            f"{what} {path}: unknown extension {suffix or '(none)'!r}; write to a "
            f"{', '.join(TABLE_FORMATS)} file."
        )
    return TABLE_FORMATS[suffix]


def table_bytes(columns: Sequence[str], rows: Sequence[Sequence], path: str | Path) -> bytes:
    """Encode rows (one value per column) in the format of ``path``'s extension.

    See :func:`table_format` for the extensions; CSV cells are escaped
    (:func:`csv_bytes`), JSONL and Parquet keep the values as they are.
    """
    fmt = table_format(path, what="output file")
    if fmt == "csv":
        return csv_bytes(columns, rows)
    if fmt == "jsonl":
        return "".join(
            json.dumps(dict(zip(columns, row, strict=True))) + "\n" for row in rows
        ).encode()
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame(list(rows), columns=list(columns)).to_parquet(buf, index=False)
    return buf.getvalue()


def read_json(path: Path, name: str | None = None, *, what: str = "the JSON file"):
    """A JSON document (a UTF-8 file, BOM allowed), or one line naming the file and line.

    ``name`` is how errors call the file (default: its path); ``what`` what to give
    instead of a folder.
    """
    name = name or str(path)
    if Path(path).is_dir():
        raise DataFileError(f"{name} is a folder; give {what}.")
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return json.load(fh)
    except json.JSONDecodeError as e:
        raise DataFileError(f"{name}, line {e.lineno}: not valid JSON ({e.msg}).") from None
    except UnicodeDecodeError:
        raise DataFileError(f"{name}: not UTF-8 text.") from None
