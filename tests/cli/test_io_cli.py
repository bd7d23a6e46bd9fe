"""Bad input through ``labelwise import`` / ``labels``: one line, exit 2, the store untouched."""

import json
import sqlite3
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image


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


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "labelwise", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows(project) -> dict:
    con = sqlite3.connect(project / "labelwise.db")
    try:
        return {
            t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("sample", "label")
        }
    finally:
        con.close()


def one_error_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.fixture()
def project(tmp_path):
    P = tmp_path / "p"
    assert cli("init", P, "--classes", "a,b").returncode == 0
    (tmp_path / "s.csv").write_text("id,x1,x2\nq1,1,2\nq2,3,4\n")
    assert cli("import", P, tmp_path / "s.csv", "--id-column", "id").returncode == 0
    (tmp_path / "l.csv").write_text("id,label\nq1,a\n")
    assert cli("labels", P, "import", tmp_path / "l.csv").returncode == 0
    return P


@pytest.mark.parametrize(
    ("command", "content", "needle"),
    [
        ("import", b"id,x1,x2\nq3\x00,5,6\n", "bad.csv, line 2: the id 'q3\\x00' holds a NUL byte"),
        ("import", b"id,x1,x3\nq3,5,6\n", "missing column(s) ['x2']"),
        ("labels", b"id,label\nq1," + b"x" * 200_000 + b"\n", "bad.csv, line 2: the label of"),
    ],
    ids=["nul-id", "other-columns", "200k-label"],
)
def test_bad_files_give_one_line_and_change_nothing(tmp_path, project, command, content, needle):
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    before = rows(project)
    args = ("import", project, f, "--id-column", "id") if command == "import" else ()
    r = cli(*(args or ("labels", project, "import", f)))
    assert needle in one_error_line(r)
    assert rows(project) == before


def test_labels_export_refuses_an_unknown_extension(tmp_path, project):
    r = cli("labels", project, "export", tmp_path / "out.xlsx")
    assert ".xlsx" in one_error_line(r)
    assert not (tmp_path / "out.xlsx").exists()
    assert cli("labels", project, "export", tmp_path / "out.parquet").returncode == 0
    assert (tmp_path / "out.parquet").read_bytes()[:4] == b"PAR1"  # Parquet, not CSV


def test_a_png_bomb_is_named_in_one_warning_line_and_skipped(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (16, 16)).save(folder / "ok.png")
    png_bomb(folder / "bomb.png")
    P = tmp_path / "img"
    assert cli("init", P, "--classes", "a,b").returncode == 0
    r = cli("import", P, folder, "--json")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    warn = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(warn) == 1 and "skipped 1 image(s)" in warn[0] and "bomb.png" in warn[0]
    out = json.loads(r.stdout)
    assert (out["n_samples"], out["skipped"]) == (1, ["bomb.png"])


def test_user_text_that_looks_like_rich_markup_is_printed_as_is(tmp_path):
    P = tmp_path / "p"
    assert cli("init", P, "--classes", "a,b").returncode == 0
    (tmp_path / "s.csv").write_text("id,x\n[/x],1\n[bold]y,2\n")
    r = cli("import", P, tmp_path / "s.csv", "--id-column", "id")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    (tmp_path / "l.csv").write_text("id,label\n[/x],a\n[/x],b\n")
    line = one_error_line(cli("labels", P, "import", tmp_path / "l.csv"))
    assert "sample '[/x]' gets label 'b' here but 'a' at line 2" in line
