"""The table writer: CSV formula escaping (OWASP) that reads back exactly, JSONL, Parquet."""

import csv
import io
import json

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelwise.errors import InvalidInputError
from labelwise.io._formats import csv_bytes, escape_cell, table_bytes, unescape_cell


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        # OWASP "CSV Injection": these first characters make a spreadsheet evaluate the cell
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        # plain numbers are numbers to a spreadsheet, not formulas: left alone
        ("-1", "-1"),
        ("+0.5", "+0.5"),
        ("-1e-3", "-1e-3"),
        # already starting with a quote: one more, so that reading undoes exactly one
        ("'=x", "''=x"),
        ("'-1", "'-1"),
        ("'plain", "'plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_escape_cell_follows_owasp_and_reads_back(cell, written):
    assert escape_cell(cell) == written
    assert unescape_cell(written) == cell


def test_non_text_cells_are_not_touched():
    assert escape_cell(-3) == -3 and escape_cell(-0.5) == -0.5 and escape_cell(None) is None


@given(st.text(alphabet=st.sampled_from(list("'=+-@\t\r1.eE ab")), max_size=8))
def test_unescape_inverts_escape_for_every_text(text):
    assert unescape_cell(escape_cell(text)) == text


def test_csv_bytes_rows_read_by_the_csv_module():
    data = csv_bytes(["id", "label"], [["=1+1", "-1"], ["ok", None], ['a,"b"', "@x"]])
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows == [["id", "label"], ["'=1+1", "-1"], ["ok", ""], ['a,"b"', "'@x"]]


def test_table_bytes_by_extension(tmp_path):
    cols, rows = ("id", "score"), [("=a", -0.5), ("b", None)]
    assert table_bytes(cols, rows, tmp_path / "o.CSV").decode().splitlines() == [
        "id,score",
        "'=a,-0.5",
        "b,",
    ]
    lines = table_bytes(cols, rows, tmp_path / "o.jsonl").decode().splitlines()
    assert [json.loads(x) for x in lines] == [
        {"id": "=a", "score": -0.5},
        {"id": "b", "score": None},
    ]
    (tmp_path / "o.parquet").write_bytes(table_bytes(cols, rows, tmp_path / "o.parquet"))
    df = pd.read_parquet(tmp_path / "o.parquet")
    assert df["id"].tolist() == ["=a", "b"] and df["score"].iloc[0] == -0.5
    with pytest.raises(InvalidInputError, match=r"unknown extension '\.xlsx'"):
        table_bytes(cols, rows, tmp_path / "o.xlsx")
