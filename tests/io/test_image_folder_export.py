"""labels export --format image-folder: one folder per class, read back by a folder import."""

import pytest
from _annotation_data import write_png

from labelwise.errors import InvalidInputError
from labelwise.io._labels import export_labels, import_labels
from labelwise.io._samples import import_pool
from labelwise.store import Project


def test_class_folders_round_trip_with_the_same_ids_and_labels(tmp_path):
    for rel in ("cat/a.png", "dog/b.png", "dog/sub/c.png", "cat/d.png"):
        write_png(tmp_path / "src" / rel, (6, 4))
    p = Project.init(tmp_path / "p", classes=["cat", "dog"])
    import_pool(p, tmp_path / "src")
    # relabel one: it moves to the other class folder
    (tmp_path / "fix.csv").write_text("id,label\ncat/d.png,dog\n")
    import_labels(p, tmp_path / "fix.csv")
    assert export_labels(p, tmp_path / "out", fmt="image-folder") == 4
    files = sorted(
        f.relative_to(tmp_path / "out").as_posix() for f in (tmp_path / "out").rglob("*.png")
    )
    assert files == ["cat/a.png", "dog/b.png", "dog/cat/d.png", "dog/sub/c.png"]
    q = Project.init(tmp_path / "q", classes=["cat", "dog"])
    import_pool(q, tmp_path / "out")
    ids, uids = q.sample_ids()
    labels = q.current_labels()
    assert {u: labels[i] for i, u in zip(ids, uids, strict=True)} == {
        "cat/a.png": "cat", "dog/b.png": "dog", "dog/sub/c.png": "dog", "dog/cat/d.png": "dog"
    }  # fmt: skip
    with pytest.raises(InvalidInputError, match="not empty"):
        export_labels(p, tmp_path / "out", fmt="image-folder")
