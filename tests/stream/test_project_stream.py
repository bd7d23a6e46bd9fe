"""``labelwise stream`` and ``labelwise feedback`` on a stored project (API and CLI)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from sqlalchemy import select

from labelwise.embed import compute_features, feature_transform, load_features
from labelwise.errors import DataFileError
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._feedback import record_feedback
from labelwise.loop._project import train
from labelwise.loop._stream import stream_project
from labelwise.store import Project
from labelwise.store._models import Assignment, Label, Round, Sample, SelectionRow


@pytest.fixture()
def trained(tmp_path, bc_csv):
    """A breast-cancer project: 300 rows imported, 40 labeled, embedded, trained.

    Returns the project and the 269 rows left over as stream lines (dicts)."""
    _, df = bc_csv
    pool = df.iloc[:300].drop(columns=["diagnosis"])
    pool.to_csv(tmp_path / "pool.csv", index=False)
    p = Project.init(tmp_path / "proj", classes=["malignant", "benign"])
    import_pool(p, tmp_path / "pool.csv", id_column="id")
    df.iloc[:40][["id", "diagnosis"]].rename(columns={"diagnosis": "label"}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    import_labels(p, tmp_path / "labels.csv")
    compute_features(p)
    train(p)
    rest = df.iloc[300:].rename(columns={"id": "id"})
    lines = [
        {"id": f"s{k}", **{c: float(v) for c, v in row.items() if c not in ("id", "diagnosis")}}
        for k, (_, row) in enumerate(rest.iterrows())
    ]
    return p, lines, df


def test_transform_gives_back_the_stored_features(trained):
    p, _, _ = trained
    X, ids, _ = load_features(p)
    t = feature_transform(p)
    with p.session() as s:
        data = dict(s.execute(select(Sample.id, Sample.data)).all())
    Z = t.transform([{"data": data[int(i)]} for i in ids])
    assert t.method == "tabular" and len(t.columns) == 30
    np.testing.assert_allclose(Z, X, rtol=0, atol=1e-6)


def test_tfidf_transform_gives_back_the_stored_features(tmp_path):
    texts = [
        f"ticket {i} about {w} and {v}"
        for i, (w, v) in enumerate(
            zip(["login", "billing", "crash", "refund"] * 10, ["app", "web"] * 20, strict=True)
        )
    ]
    (tmp_path / "t.jsonl").write_text(
        "\n".join(json.dumps({"id": f"t{i}", "body": t}) for i, t in enumerate(texts))
    )
    p = Project.init(tmp_path / "txt", classes=["a", "b"])
    import_pool(p, tmp_path / "t.jsonl", id_column="id", text_column="body")
    compute_features(p, method="tfidf")
    X, _, _ = load_features(p)
    Z = feature_transform(p).transform([{"text": t} for t in texts])
    np.testing.assert_allclose(Z, X, atol=1e-5)


def test_stream_asks_within_budget_and_queues_what_it_asks(trained):
    p, lines, _ = trained
    printed = []
    r = stream_project(p, (json.dumps(x) for x in lines[:200]), budget=0.05, on_ask=printed.append)
    assert r.n_seen == 200 and r.asked == printed
    assert 1 <= r.n_asked <= math.ceil(0.05 * 200)  # the guarantee over the whole run
    with p.session() as s:
        rnd = s.scalars(select(Round).where(Round.number == r.round)).one()
        picked = s.execute(
            select(Sample.uid, Sample.meta, SelectionRow.score, SelectionRow.reason)
            .join(SelectionRow, SelectionRow.sample_id == Sample.id)
            .where(SelectionRow.round_id == rnd.id)
            .order_by(SelectionRow.position)
        ).all()
        n_samples = len(s.scalars(select(Sample.id)).all())
    assert [u for u, *_ in picked] == printed  # only asked samples are stored
    assert n_samples == 300 + len(printed)
    assert all(m["source"] == "stream" for _, m, _, _ in picked)
    assert all("variable_uncertainty" in why for *_, why in picked)
    assert rnd.batch_size == len(printed) and rnd.info["stream"]["budget"] == 0.05
    # a second run carries the budget state on (no fresh full bucket)
    r2 = stream_project(p, (json.dumps(x) for x in lines[200:210]), budget=0.05)
    assert r2.resumed


def test_a_bad_line_is_named_and_writes_nothing(trained):
    p, lines, _ = trained
    bad = dict(lines[1])
    del bad["mean radius"]
    stream = [json.dumps(lines[0]), json.dumps(bad), json.dumps(lines[2])]
    with pytest.raises(DataFileError, match=r"stdin, line 2: missing \['mean radius'\]"):
        stream_project(p, stream, budget=1.0)  # budget 1: line 1 is asked and stored
    with p.session() as s:
        uids = set(s.scalars(select(Sample.uid)))
    assert lines[0]["id"] in uids and bad["id"] not in uids and lines[2]["id"] not in uids
    for text, msg in [
        ("{not json", "line 1: not valid JSON"),
        (json.dumps({**lines[3], "mean radius": "x"}), "line 1: column 'mean radius'"),
        (json.dumps({**lines[3], "id": "r5"}), "line 1: sample id 'r5' is already"),
    ]:
        with pytest.raises(DataFileError, match=msg):
            stream_project(p, [text], budget=1.0)


def test_cli_stream_prints_ids_and_exits_2_on_a_bad_line(trained):
    p, lines, _ = trained
    text = "\n".join(json.dumps(x) for x in lines[:60]) + '\n{"id": "zz"}\n'
    r = subprocess.run(
        [sys.executable, "-m", "labelwise", "stream", str(p.path), "--budget", "0.1"],
        input=text,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2
    assert "line 61: missing" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    asked = r.stdout.split()
    assert 1 <= len(asked) <= 6  # ceil(0.1 * 60)
    with p.session() as s:
        queued = set(
            s.scalars(
                select(Sample.uid)
                .join(Assignment, Assignment.sample_id == Sample.id)
                .where(Assignment.status == "queued")
            )
        )
    assert set(asked) <= queued


def test_feedback_labels_queues_first_and_imports_unknown_ids(trained, tmp_path):
    p, lines, df = trained
    # r0 labeled (a correct label), r100 pool (no label: queue first), s0 unknown with content
    rows = [
        {"id": "r0", "predicted": "benign", "label": "malignant"},
        {"id": "r100", "predicted": "benign", "label": None},
        {
            "id": "s0",
            "predicted": "malignant",
            "label": "benign",
            **{k: v for k, v in lines[0].items() if k != "id"},
        },
    ]
    f = tmp_path / "fb.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows))
    before = df.loc[df.id == "r0", "diagnosis"].item()
    r = record_feedback(p, f)
    assert (r.rows, r.new_samples, r.queued) == (3, 1, 1)
    assert r.labels_new + r.labels_changed == 2 - (before == "malignant")
    with p.session() as s:
        lab = s.execute(
            select(Label.value, Label.source, Label.comment)
            .join(Sample, Sample.id == Label.sample_id)
            .where(Sample.uid == "s0", Label.status == "accepted")
        ).one()
        a = s.execute(
            select(Assignment.priority, Assignment.note)
            .join(Sample, Sample.id == Assignment.sample_id)
            .where(Sample.uid == "r100")
        ).one()
    assert lab.value == "benign" and lab.source == "feedback:fb.jsonl"
    assert "'malignant'" in lab.comment
    assert a.priority == 0 and "'benign'" in a.note  # ahead of round work (priority 1)


def test_feedback_refuses_unknown_ids_without_content_and_writes_nothing(trained, tmp_path):
    p, _, _ = trained
    f = tmp_path / "fb.csv"
    f.write_text("id,predicted,label\nr1,benign,malignant\nnope,benign,\n")
    with p.session() as s:
        n_before = len(s.scalars(select(Label.id)).all())
    with pytest.raises(DataFileError, match=r"fb.csv, line 3: no sample with id 'nope'"):
        record_feedback(p, f)
    with p.session() as s:
        assert len(s.scalars(select(Label.id)).all()) == n_before
    f.write_text("id,predicted,label\nr1,benign,benign\n")
    with pytest.raises(DataFileError, match="line 2: label 'benign' equals the rejected"):
        record_feedback(p, f)


def test_cli_feedback(trained, tmp_path):
    p, _, _ = trained
    f = tmp_path / "fb.csv"
    f.write_text("id,predicted,label\nr200,benign,\nr201,malignant,benign\n")
    r = subprocess.run(
        [sys.executable, "-m", "labelwise", "feedback", str(p.path), str(f), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["rows"] == 2 and got["queued"] == 1 and got["labels_new"] == 1
