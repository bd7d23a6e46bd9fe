"""CLI: a detection project from a YOLO dataset out to COCO, and a bad file in one line."""

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.errors import DataFileError

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from _annotation_data import write_yolo  # noqa: E402


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_detection_project_imports_yolo_and_exports_coco(tmp_path):
    ds = write_yolo(tmp_path / "ds")
    assert run("init", tmp_path / "p", "--task", "detection").exit_code == 0
    r = run("import", tmp_path / "p", ds, "--format", "yolo")
    assert r.exit_code == 0, r.output
    assert "imported 5 images sample(s) and 4 label(s) from yolo" in r.output
    r = run(
        "labels", tmp_path / "p", "export", tmp_path / "boxes.json", "--format", "coco", "--json"
    )
    assert json.loads(r.output) == {"exported": 4, "file": str(tmp_path / "boxes.json")}
    coco = json.loads((tmp_path / "boxes.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["cat", "dog"]
    assert len(coco["annotations"]) == 4
    # a bad label line: a user error (main() prints it as one line, exit 2) naming the
    # file and line
    (ds / "labels" / "train" / "b.txt").write_text("1 0.25 0.5 0.5\n")
    r = run("labels", tmp_path / "p", "import", ds, "--format", "yolo")
    assert isinstance(r.exception, DataFileError)
    assert "b.txt, line 1: 3 numbers after the class" in str(r.exception)
    assert "\n" not in str(r.exception)
