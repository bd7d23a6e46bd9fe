"""``stream`` and ``feedback`` store samples and labels through the import's own code.

The same checks as ``import`` (a NUL byte in metadata, a label outside the classes),
with the same message and nothing stored when refused; a crash inside the feedback
transaction leaves nothing half-written.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from labelwise.embed import compute_features
from labelwise.errors import DataFileError
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._feedback import record_feedback
from labelwise.loop._project import train
from labelwise.loop._stream import stream_project
from labelwise.store import Project
from labelwise.store._models import Assignment, Event, Label, Round, Sample, SelectionRow

TABLES = (Sample, Label, Assignment, SelectionRow, Round, Event)


def counts(p: Project) -> dict:
    with p.session() as s:
        return {t.__name__: s.scalar(select(func.count()).select_from(t)) for t in TABLES}


@pytest.fixture()
def texts(tmp_path):
    """A text project: 40 tickets, 20 labeled, TF-IDF features, a trained model."""
    words = {"billing": ["invoice", "refund", "charge"], "bug": ["crash", "error", "freeze"]}
    rows, labels = [], []
    for i in range(40):
        cls = "billing" if i % 2 else "bug"
        w = words[cls]
        rows.append({"id": f"t{i}", "body": f"{w[i % 3]} {w[(i + 1) % 3]} ticket {i}"})
        labels.append((f"t{i}", cls))
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "l.csv").write_text("id,label\n" + "".join(f"{u},{c}\n" for u, c in labels[:20]))
    p = Project.init(tmp_path / "proj", classes=["billing", "bug"])
    import_pool(p, tmp_path / "t.jsonl", id_column="id", text_column="body")
    import_labels(p, tmp_path / "l.csv")
    compute_features(p, method="tfidf")
    train(p)
    yield p, tmp_path
    p.close()


def test_a_nul_byte_in_metadata_is_refused_by_import_stream_and_feedback(texts):
    p, tmp = texts
    before = counts(p)
    # import: the pool file's extra column
    (tmp / "imp.jsonl").write_text(json.dumps({"id": "n1", "body": "refund", "note": "a\x00b"}))
    with pytest.raises(DataFileError) as imp:
        import_pool(p, tmp / "imp.jsonl", id_column="id", text_column="body")
    # stream: a key beside the text (budget 1: the line is asked, then stored)
    line = json.dumps({"id": "n1", "text": "refund", "note": "a\x00b"})
    with pytest.raises(DataFileError) as st:
        stream_project(p, [line], budget=1.0)
    # feedback: a new sample's content
    (tmp / "fb.jsonl").write_text(
        json.dumps({"id": "n1", "predicted": "bug", "text": "refund", "note": "a\x00b"})
    )
    with pytest.raises(DataFileError) as fb:
        record_feedback(p, tmp / "fb.jsonl")
    assert str(imp.value) == f"{tmp / 'imp.jsonl'}, line 1: " + (
        tail := "column 'note' holds a NUL byte (\\x00); remove it."
    )
    assert str(st.value) == f"stdin, line 1: {tail}"
    assert str(fb.value) == f"{tmp / 'fb.jsonl'}, line 1: {tail}"
    after = counts(p)
    # the stream keeps its selector's state in the project row, nothing else
    assert after == before


def test_a_feedback_label_outside_the_classes_is_refused_like_an_import(texts):
    p, tmp = texts
    before = counts(p)
    (tmp / "bad.csv").write_text("id,label\nt30,bug\nt31,spam\n")
    with pytest.raises(DataFileError) as imp:
        import_labels(p, tmp / "bad.csv")
    (tmp / "fb.csv").write_text("id,predicted,label\nt30,billing,bug\nt31,bug,spam\n")
    with pytest.raises(DataFileError) as fb:
        record_feedback(p, tmp / "fb.csv")
    assert str(imp.value).startswith(f"{tmp / 'bad.csv'}, line 3: label 'spam' is not a class")
    # one rule, one message: only the file named differs
    assert str(fb.value) == str(imp.value).replace("bad.csv", "fb.csv")
    assert counts(p) == before


def test_a_crash_inside_the_feedback_transaction_leaves_nothing(texts, monkeypatch):
    import labelwise.io._labels as labels_io

    p, tmp = texts
    write = labels_io.write_labels

    def write_then_crash(s, rows, source):
        write(s, rows, source)  # the new sample and the labels are in the transaction
        raise RuntimeError("crash")

    monkeypatch.setattr(labels_io, "write_labels", write_then_crash)
    (tmp / "fb.jsonl").write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": "new1", "predicted": "bug", "label": "billing", "text": "refund due"},
                {"id": "t30", "predicted": "billing", "label": None},
                {"id": "t1", "predicted": "billing", "label": "bug"},
            ]
        )
    )
    before = counts(p)
    with pytest.raises(RuntimeError, match="crash"):
        record_feedback(p, tmp / "fb.jsonl")
    assert counts(p) == before
    monkeypatch.undo()
    r = record_feedback(p, tmp / "fb.jsonl")  # the same file, whole, afterwards
    assert (r.new_samples, r.queued, r.labels_new + r.labels_changed) == (1, 1, 2)
    after = counts(p)
    assert (
        after["Sample"] == before["Sample"] + 1 and after["Assignment"] == before["Assignment"] + 1
    )
    with p.session() as s:
        new = s.execute(
            select(Sample.meta, Sample.import_id, Label.source, Label.annotator)
            .join(Label, Label.sample_id == Sample.id)
            .where(Sample.uid == "new1")
        ).one()
        last_import = s.scalar(select(func.max(Sample.import_id)).where(Sample.uid != "new1"))
    assert new.meta == {"source": "feedback", "file": "fb.jsonl"}
    assert new.import_id == last_import + 1  # a batch of its own, like an import
    assert (new.source, new.annotator) == ("feedback:fb.jsonl", "feedback")
