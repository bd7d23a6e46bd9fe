"""Label files in and out: big cells, formats by extension, formula-safe CSV that reads back."""

import csv
import json

import pandas as pd
import pytest
from sqlalchemy import func, select

from labelwise.embed import compute_features
from labelwise.errors import DataFileError, InvalidInputError
from labelwise.io import _labels
from labelwise.io._labels import export_labels, import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._project import export_round, select_batch
from labelwise.store import Project
from labelwise.store._models import Base

IDS = ["=1+1", "-2+3", "@SUM(A1)", "+cmd", "'=quoted", "-7", "plain"]


def counts(p: Project) -> dict:
    with p.engine.connect() as con:
        return {
            t: con.scalar(select(func.count()).select_from(Base.metadata.tables[t]))
            for t in ("sample", "label", "class", "event")
        }


@pytest.fixture()
def project(tmp_path, db):
    """Seven samples whose ids a spreadsheet would run as formulas (and two it would not)."""
    p = Project.init(tmp_path / "p", classes=["=evil", "-1", "ok"], db=db())
    with open(tmp_path / "s.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "x1", "x2"])
        w.writerows([u, i, i * i % 5] for i, u in enumerate(IDS))
    import_pool(p, tmp_path / "s.csv", id_column="id")
    return p


def raw_cells(path, column):
    with open(path, newline="") as fh:
        return [r[column] for r in csv.DictReader(fh)]


def test_label_cells_over_128_kib_are_read(tmp_path, project):
    f = tmp_path / "l.csv"
    note = "word " * 50_000  # 250 KB: Python's csv module stops at 128 KiB by default
    f.write_text(f'id,label,note\nplain,ok,"{note}"\n')
    assert import_labels(project, f).new == 1


def test_a_label_over_128_kib_is_refused_by_its_length(tmp_path, project):
    f = tmp_path / "big-label.csv"
    f.write_text("id,label\nplain," + "x" * (200 * 1024) + "\n")
    before = counts(project)
    with pytest.raises(DataFileError, match=r"big-label.csv, line 2: .* 204,800 characters") as e:
        import_labels(project, f)
    assert len(str(e.value)) < 300 and counts(project) == before


def test_a_quote_left_open_is_one_clear_error(tmp_path, project, monkeypatch):
    monkeypatch.setattr(_labels, "FIELD_LIMIT", 1000)
    f = tmp_path / "open.csv"
    f.write_text('id,label\nplain,"ok\n' + "".join(f"row{i},ok\n" for i in range(500)))
    before = counts(project)
    with pytest.raises(DataFileError, match=r"open.csv, line \d+: cannot read as CSV .* quote"):
        import_labels(project, f)
    assert counts(project) == before
    import csv as csv_module

    assert csv_module.field_size_limit() == 131072  # the process-wide limit is restored


def test_duration_must_be_a_finite_number(tmp_path, project):
    f = tmp_path / "d.csv"
    f.write_text("id,label,duration\nplain,ok,nan\n")
    with pytest.raises(DataFileError, match="line 2: duration 'nan' must be a number"):
        import_labels(project, f)


def test_csv_export_escapes_formulas_and_reads_back_unchanged(tmp_path, project):
    labels = dict(zip(IDS, ["=evil", "-1", "ok", "ok", "=evil", "-1", "ok"], strict=True))
    with open(tmp_path / "l.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label", "annotator"])
        w.writerows([u, v, "@ann"] for u, v in labels.items())
    assert import_labels(project, tmp_path / "l.csv").new == 7
    out = tmp_path / "out.csv"
    assert export_labels(project, out) == 7
    # hand-worked: OWASP prefixes get one ', a leading ' gets one more, numbers stay
    assert raw_cells(out, "id") == [
        "'=1+1",
        "'-2+3",
        "'@SUM(A1)",
        "'+cmd",
        "''=quoted",
        "-7",
        "plain",
    ]
    assert raw_cells(out, "label") == ["'=evil", "-1", "ok", "ok", "'=evil", "-1", "ok"]
    assert set(raw_cells(out, "annotator")) == {"'@ann"}
    before = counts(project)
    r = import_labels(project, out)
    assert (r.new, r.changed, r.unchanged) == (0, 0, 7)
    assert counts(project)["label"] == before["label"]


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_export_honours_parquet_and_jsonl_and_reads_back(tmp_path, project, suffix):
    (tmp_path / "l.csv").write_text("id,label\nplain,ok\n-7,-1\n")
    import_labels(project, tmp_path / "l.csv", annotator="amy")
    out = tmp_path / f"labels{suffix}"
    assert export_labels(project, out) == 2
    if suffix == ".parquet":
        df = pd.read_parquet(out)
    else:
        df = pd.DataFrame([json.loads(x) for x in out.read_text().splitlines()])
    # by sample order; JSONL and Parquet keep the values as stored (no spreadsheet escaping)
    assert df[["id", "label", "annotator"]].values.tolist() == [
        ["-7", "-1", "amy"],
        ["plain", "ok", "amy"],
    ]
    assert import_labels(project, out).unchanged == 2


@pytest.mark.parametrize("name", ["labels.xlsx", "labels"])
def test_export_refuses_other_extensions_before_writing(tmp_path, project, name):
    with pytest.raises(InvalidInputError, match=r"\.csv"):
        export_labels(project, tmp_path / name)
    assert not (tmp_path / name).exists()


def test_select_batch_files_are_escaped_and_import_as_labels(tmp_path, project):
    compute_features(project, method="tabular")
    out = tmp_path / "batch.csv"
    b = select_batch(project, strategy="random", batch_size=7, out=out, random_state=0)
    assert sorted(r["id"] for r in b.rows) == sorted(IDS)
    written = raw_cells(out, "id")
    assert "'=1+1" in written and "''=quoted" in written and "-7" in written
    again = tmp_path / "again.csv"
    export_round(project, b.round, again)
    assert raw_cells(again, "id") == written
    # an annotator fills in the label column of the batch file and imports it
    with open(tmp_path / "labeled.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label"])
        w.writerows([i, "ok"] for i in written)
    assert import_labels(project, tmp_path / "labeled.csv").new == 7
