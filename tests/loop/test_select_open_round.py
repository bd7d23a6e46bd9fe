"""select refuses to open a round while the latest one has unlabeled picks (unless forced).

And the batch file carries what to label: text, image path or feature columns,
checked against the source data, not against what select stored.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from labelwise.embed import compute_features
from labelwise.errors import ConflictError
from labelwise.io._samples import import_pool
from labelwise.loop._project import export_round, select_batch
from labelwise.store import Project
from labelwise.store._models import Artifact, Event, Round, SelectionRow

WORDS = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]


def _counts(p: Project) -> tuple[int, int, int, int]:
    with p.session() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(m))
            for m in (Round, SelectionRow, Event, Artifact)
        )


def _label(p: Project, uids, tmp_path, name="l.csv"):
    from labelwise.io._labels import import_labels

    path = tmp_path / name
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label"])
        w.writerows([u, "a"] for u in uids)
    import_labels(p, path)


@pytest.fixture()
def text_project(tmp_path):
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=6)) + f" note {i}" for i in range(40)]
    texts[3] = '=cmd("x"), with "quotes",\nand a second line'
    df = pd.DataFrame({"id": [f"t{i}" for i in range(40)], "body": texts, "votes": range(40)})
    df.to_csv(tmp_path / "texts.csv", index=False)
    p = Project.init(tmp_path / "proj", classes=["a", "b"])
    import_pool(p, tmp_path / "texts.csv", id_column="id", text_column="body")
    compute_features(p, method="tfidf")
    yield p, dict(zip(df["id"], df["body"], strict=True))
    p.close()


@pytest.fixture()
def table_project(tmp_path):
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.normal(size=(30, 3)).round(6), columns=["width", "score", "depth"])
    df.insert(0, "id", [f"r{i}" for i in range(30)])
    df.to_csv(tmp_path / "rows.csv", index=False)
    p = Project.init(tmp_path / "tab", classes=["a", "b"])
    import_pool(p, tmp_path / "rows.csv", id_column="id")
    compute_features(p)
    yield p, df.set_index("id")
    p.close()


def test_second_select_is_refused_and_stores_nothing(text_project, tmp_path):
    p, _ = text_project
    first = select_batch(p, strategy="random", batch_size=5, random_state=0)
    before = _counts(p)
    out = tmp_path / "second.csv"
    with pytest.raises(ConflictError) as e:
        select_batch(p, strategy="random", batch_size=5, out=out, random_state=1)
    assert str(e.value) == (
        "round 1 has 5 unlabeled picks; label them or pass --force to open another round."
    )
    assert _counts(p) == before and not out.exists()
    # four of five labeled: still open, and the message counts the one left
    uids = [r["id"] for r in first.rows]
    _label(p, uids[:4], tmp_path)
    with pytest.raises(ConflictError, match="round 1 has 1 unlabeled pick; label"):
        select_batch(p, strategy="random", batch_size=5, random_state=1)
    # force opens round 2 anyway; once round 2 is labeled, a plain select works
    forced = select_batch(p, strategy="random", batch_size=3, random_state=1, force=True)
    assert forced.round == 2
    _label(p, [r["id"] for r in forced.rows], tmp_path, "l2.csv")
    assert select_batch(p, strategy="random", batch_size=3, random_state=2).round == 3


def test_text_batch_file_has_the_text_after_the_contract_columns(text_project, tmp_path):
    p, source = text_project
    out = tmp_path / "b.csv"
    res = select_batch(p, strategy="random", batch_size=40, out=out, random_state=0)
    with open(out, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
    assert header[:3] == ["id", "score", "reason"]
    assert header[-1] == "text" and "path" not in header and "votes" not in header
    rows = list(csv.DictReader(open(out, newline="")))
    assert len(rows) == 40
    for r in rows:
        if r["id"] == "t3":  # a formula-looking cell is escaped with a leading quote
            assert r["text"] == "'" + source["t3"]
        else:
            assert r["text"] == source[r["id"]]
    assert {r["id"]: r["text"] for r in res.rows} == source  # the rows as stored, unescaped


def test_jsonl_and_round_export_carry_the_text(text_project, tmp_path):
    p, source = text_project
    select_batch(p, strategy="random", batch_size=6, out=tmp_path / "b.jsonl", random_state=0)
    lines = [json.loads(x) for x in open(tmp_path / "b.jsonl")]
    assert [x["text"] for x in lines] == [source[x["id"]] for x in lines]
    export_round(p, 1, tmp_path / "again.jsonl")
    again = [json.loads(x) for x in open(tmp_path / "again.jsonl")]
    assert again == lines
    export_round(p, 1, tmp_path / "bare.jsonl", with_content=False)
    assert "text" not in json.loads(open(tmp_path / "bare.jsonl").readline())


def test_no_content_when_turned_off(text_project, tmp_path):
    p, _ = text_project
    out = tmp_path / "b.csv"
    res = select_batch(p, strategy="random", batch_size=4, out=out, with_content=False)
    header = open(out).readline().strip().split(",")
    assert header == ["id", "score", "reason", "strategy", "round", "model_version", "position"]
    assert "text" not in res.rows[0]


def test_table_rows_get_feature_columns_only_when_asked(table_project, tmp_path):
    p, df = table_project
    plain = tmp_path / "plain.csv"
    select_batch(p, strategy="random", batch_size=4, out=plain, random_state=0)
    assert open(plain).readline().strip().split(",")[-1] == "position"
    rich = tmp_path / "rich.csv"
    select_batch(
        p, strategy="random", batch_size=4, out=rich, random_state=1, with_content=True, force=True
    )
    header = open(rich).readline().strip().split(",")
    # "score" is a batch column already: the feature of that name is renamed
    assert header[7:] == ["width", "feature_score", "depth"]
    for r in csv.DictReader(open(rich)):
        src = df.loc[r["id"]]
        assert float(r["width"]) == pytest.approx(src["width"])
        assert float(r["feature_score"]) == pytest.approx(src["score"])
        assert float(r["depth"]) == pytest.approx(src["depth"])


def test_image_batch_file_has_the_path(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        px = (rng.random((8, 8)) * 255).astype("uint8")
        Image.fromarray(px).save(folder / f"im{i}.png")
    p = Project.init(tmp_path / "img", classes=["a", "b"])
    import_pool(p, folder)
    compute_features(p, method="pixels")  # not about embedding: no backbone
    out = tmp_path / "b.csv"
    select_batch(p, strategy="random", batch_size=3, out=out, random_state=0)
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 3
    for r in rows:
        assert r["path"] == str((folder / r["id"]).resolve())
    p.close()
