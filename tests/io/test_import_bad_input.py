"""Bad sample and label files: refused with the file and line named, the store untouched.

Every test runs on SQLite and (marker ``postgres``) on PostgreSQL, which refuses NUL
bytes and over-long ids by itself, with a traceback, if labelwise lets them through.
"""

import struct
import time
import zlib

import pytest
from PIL import Image
from sqlalchemy import func, select

from labelwise._validation import MAX_ID_LENGTH
from labelwise.annotate import add_gold
from labelwise.errors import DataFileError, InvalidInputError, NotFoundError
from labelwise.io import _samples
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._project import provenance
from labelwise.store import Project
from labelwise.store._models import Base


def counts(p: Project) -> dict:
    with p.engine.connect() as con:
        return {
            t: con.scalar(select(func.count()).select_from(Base.metadata.tables[t]))
            for t in ("sample", "label", "class", "event")
        }


def refused(p: Project, call, match: str):
    """``call()`` raises DataFileError matching ``match`` and writes nothing."""
    before = counts(p)
    with pytest.raises(DataFileError, match=match) as e:
        call()
    assert counts(p) == before
    return str(e.value)


@pytest.fixture()
def table_project(tmp_path, db):
    p = Project.init(tmp_path / "p", classes=["a", "b"], db=db())
    (tmp_path / "first.csv").write_text("id,x1,x2\nq1,1,2\nq2,3,4\n")
    import_pool(p, tmp_path / "first.csv", id_column="id")
    return p


@pytest.fixture()
def text_project(tmp_path, db):
    p = Project.init(tmp_path / "t", classes=["ham", "spam"], db=db())
    (tmp_path / "first.csv").write_text("id,body,lang\nm1,hello there,en\nm2,win cash,en\n")
    import_pool(p, tmp_path / "first.csv", id_column="id", text_column="body")
    return p


# --- NUL bytes, over-long ids ------------------------------------------------------------


def test_nul_byte_in_an_id_is_refused_with_its_line(tmp_path, table_project):
    f = tmp_path / "nul.csv"
    f.write_bytes(b"id,x1,x2\nq3,5,6\nq4\x00,5,6\n")
    msg = refused(table_project, lambda: import_pool(table_project, f, id_column="id"), "NUL byte")
    assert msg.startswith(f"{f}, line 3: the id")


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b"id,body,lang\nm3,fine,en\nm4,bad\x00text,en\n", "line 3: the text in 'body'"),
        (b"id,body,lang\nm3,fine,e\x00n\n", "line 2: column 'lang'"),
    ],
    ids=["text", "metadata"],
)
def test_nul_byte_in_text_or_metadata_is_refused(tmp_path, text_project, content, where):
    f = tmp_path / "nul.csv"
    f.write_bytes(content)
    call = lambda: import_pool(text_project, f, id_column="id", text_column="body")  # noqa: E731
    assert where in refused(text_project, call, "NUL byte")


def test_id_over_the_column_limit_is_refused_but_the_limit_itself_fits(tmp_path, table_project):
    f = tmp_path / "long.csv"
    f.write_text(f"id,x1,x2\n{'i' * (MAX_ID_LENGTH + 1)},5,6\n")
    msg = refused(table_project, lambda: import_pool(table_project, f, id_column="id"), "513")
    assert f"{f}, line 2" in msg and len(msg) < 300  # the id is not echoed whole
    f.write_text(f"id,x1,x2\n{'i' * MAX_ID_LENGTH},5,6\n")  # 512 characters: stored as is
    assert import_pool(table_project, f, id_column="id").n_samples == 1
    assert "i" * MAX_ID_LENGTH in set(table_project.sample_ids()[1])


def test_ten_megabyte_id_is_refused_fast(tmp_path, table_project):
    f = tmp_path / "huge.csv"
    f.write_text("id,x1,x2\n" + "i" * (10 * 2**20) + ",5,6\n")
    t0 = time.perf_counter()
    refused(table_project, lambda: import_pool(table_project, f, id_column="id"), "line 2")
    assert time.perf_counter() - t0 < 10


def test_nul_and_over_long_label_in_a_label_file(tmp_path, db):
    p = Project.init(tmp_path / "p", db=db())  # no classes: the first labels would set them
    (tmp_path / "s.csv").write_text("id,x\ns1,1\ns2,2\n")
    import_pool(p, tmp_path / "s.csv", id_column="id")
    f = tmp_path / "l.csv"
    f.write_bytes(b"id,label\ns1,ok\ns2,b\x00d\n")
    assert "line 3" in refused(p, lambda: import_labels(p, f), "NUL byte")
    f.write_text("id,label\ns1," + "x" * 201 + "\n")
    assert "201 characters" in refused(p, lambda: import_labels(p, f), "line 2")
    f.write_text("id,label,annotator\ns1,ok,a\x00b\n")
    refused(p, lambda: import_labels(p, f), "line 2: the annotator .* NUL byte")


# --- one id rule -------------------------------------------------------------------------


def test_ids_with_surrounding_spaces_are_stored_stripped_and_found_everywhere(tmp_path, db):
    p = Project.init(tmp_path / "p", classes=["a", "b"], db=db())
    (tmp_path / "s.csv").write_text('id,x\n" s1 ",1\n"\ts2",2\n007,3\n')
    import_pool(p, tmp_path / "s.csv", id_column="id")
    assert sorted(p.sample_ids()[1]) == ["007", "s1", "s2"]  # 007 stays text, not 7
    (tmp_path / "l.csv").write_text('id,label\ns1,a\n" s2 ",b\n"007 ",a\n')
    r = import_labels(p, tmp_path / "l.csv")
    assert (r.new, r.changed) == (3, 0)
    assert provenance(p, "  s1 ")["labels"][0]["label"] == "a"
    assert add_gold(p, {" s2": "b"}) == 1


def test_ids_equal_after_stripping_are_duplicates(tmp_path, table_project):
    f = tmp_path / "dup.csv"
    f.write_text('id,x1,x2\nq3,1,2\n" q3",3,4\n')
    msg = refused(table_project, lambda: import_pool(table_project, f, id_column="id"), "dup")
    assert msg == f"{f}, line 3: duplicate id 'q3' (first at line 2); ids must be unique."


def test_blank_id_is_refused(tmp_path, table_project):
    f = tmp_path / "blank.csv"
    f.write_text('id,x1,x2\n"   ",1,2\n')
    refused(
        table_project,
        lambda: import_pool(table_project, f, id_column="id"),
        "line 2: the id is empty",
    )


def test_gold_answers_refuse_an_unknown_id_after_the_same_rule(tmp_path, table_project):
    with pytest.raises(NotFoundError, match="no sample with id 'zz'"):
        add_gold(table_project, {" zz ": "a"})
    with pytest.raises(InvalidInputError, match="no sample with id 'zz'"):
        provenance(table_project, " zz")


# --- a second import unlike the first ----------------------------------------------------


def test_second_import_with_other_numeric_columns_is_refused(tmp_path, table_project):
    f = tmp_path / "cols.csv"
    f.write_text("id,x1,x3,x4\nq3,5,6,7\n")
    msg = refused(table_project, lambda: import_pool(table_project, f, id_column="id"), "x2")
    assert "missing column(s) ['x2']" in msg and "extra column(s) ['x3', 'x4']" in msg
    f.write_text("id,x2,x1\nq3,5,6\n")  # same columns in another order: fine
    assert import_pool(table_project, f, id_column="id").n_samples == 1


def test_text_project_refuses_an_import_without_its_text_column(tmp_path, text_project):
    f = tmp_path / "more.csv"
    f.write_text("id,score\nm3,1\n")
    msg = refused(text_project, lambda: import_pool(text_project, f, id_column="id"), "text")
    assert "holds text samples" in msg and "--text-column" in msg


# --- byte-order marks --------------------------------------------------------------------


def test_byte_order_mark_is_read_in_label_and_jsonl_files(tmp_path, db):
    p = Project.init(tmp_path / "p", classes=["a", "b"], db=db())
    bom = b"\xef\xbb\xbf"
    (tmp_path / "s.jsonl").write_bytes(bom + b'{"id": "s1", "x": 1}\n{"id": "s2", "x": 2}\n')
    assert import_pool(p, tmp_path / "s.jsonl", id_column="id").n_samples == 2
    (tmp_path / "l.csv").write_bytes(bom + b"id,label\ns1,a\ns2,b\n")
    assert import_labels(p, tmp_path / "l.csv").new == 2
    assert sorted(p.current_labels().values()) == ["a", "b"]


# --- images over the pixel limit ---------------------------------------------------------


def test_images_over_the_pixel_limit_are_named_and_skipped(tmp_path, db, monkeypatch):
    folder = tmp_path / "imgs"
    (folder / "a").mkdir(parents=True)
    Image.new("L", (10, 10)).save(folder / "a" / "small.png")  # 100 pixels
    Image.new("L", (10, 11)).save(folder / "a" / "big.png")  # 110 pixels
    monkeypatch.setattr(_samples, "MAX_IMAGE_PIXELS", 100)
    p = Project.init(tmp_path / "p", classes=["a", "b"], db=db())
    r = import_pool(p, folder)
    assert (r.n_samples, r.skipped) == (1, ["a/big.png"])
    assert list(p.sample_ids()[1]) == ["a/small.png"]
    monkeypatch.setattr(_samples, "MAX_IMAGE_PIXELS", 10)
    p2 = Project.init(tmp_path / "p2", classes=["a", "b"], db=db())
    refused(p2, lambda: import_pool(p2, folder), "every image is over 10 pixels")


def png_bomb(path, side=60000):
    """A valid 1-bit PNG of side x side zeros: ~450 MB decoded, a few hundred KB on disk."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)
    idat = b"".join(comp.compress(row * 1000) for _ in range(side // 1000)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_a_real_decompression_bomb_png_is_skipped_from_its_header(tmp_path, db):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (16, 16)).save(folder / "ok.png")
    png_bomb(folder / "bomb.png")
    assert (folder / "bomb.png").stat().st_size < 2**20
    p = Project.init(tmp_path / "p", classes=["a", "b"], db=db())
    t0 = time.perf_counter()
    r = import_pool(p, folder)
    assert time.perf_counter() - t0 < 5  # the header alone: nothing is decoded
    assert (r.n_samples, r.skipped) == (1, ["bomb.png"])


def test_nul_byte_is_refused_where_pandas_would_drop_it(tmp_path, table_project, monkeypatch):
    # pandas before 3.1 reads b"q4\x00" as "q4": the raw-byte check must catch it there
    import labelwise.io._samples as samples

    monkeypatch.setattr(samples, "_pandas_drops_nul", lambda: True)
    f = tmp_path / "nul.csv"
    f.write_bytes(b"id,x1,x2\nq3,5,6\nq4\x00,5,6\n")
    msg = refused(table_project, lambda: import_pool(table_project, f, id_column="id"), "NUL byte")
    assert msg.startswith(f"{f}, line 3:")
