"""Concurrent writers on one project, on both backends.

Eight threads, each with its own connection pool (``Project.open``), import label
files for disjoint and overlapping samples at the same moment. The store guarantees:
every import succeeds (SQLite writers queue on the 30 s busy timeout, PostgreSQL
imports that share samples queue on row locks); afterwards every labeled sample has
exactly one accepted label, every change is in the history, and a sample's label is
the one from the last import, in commit order, that touched it.
"""

import csv
import random
import threading
from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.store import Project, transaction
from labelwise.store._models import Event, Label, Sample

N_WORKERS = 8
N_ROUNDS = 3
CLASSES = [f"c{k}" for k in range(N_WORKERS)]


def _run_all(target, n=N_WORKERS, timeout=120):
    """Start n threads on a barrier; return their results, re-raising the first error."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def run(k):
        try:
            barrier.wait()
            results[k] = target(k)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if errors:
        raise errors[0]
    return results


def _touched(k):
    """Sample numbers worker k labels: its own, a window shared with a neighbour, the common."""
    own = range(200 + 25 * k, 225 + 25 * k)  # only worker k
    window = [(20 * k + j) % 160 for j in range(40)]  # each sample in two workers' windows
    common = range(160, 200)  # every worker
    return [*own, *window, *common]


def test_concurrent_label_imports_keep_one_accepted_label_per_sample(tmp_path, db):
    p = Project.init(tmp_path / "p", classes=CLASSES, db=db())
    n_samples = 200 + 25 * N_WORKERS + 10  # the last 10 are never labeled
    (tmp_path / "pool.csv").write_text("id,x\n" + "".join(f"s{i},{i}\n" for i in range(n_samples)))
    import_pool(p, tmp_path / "pool.csv", id_column="id")
    p.close()
    files = {}  # source path -> (worker, round, {sample: value})
    for k in range(N_WORKERS):
        for r in range(N_ROUNDS):
            value = CLASSES[(k + r) % len(CLASSES)]
            rows = [(f"s{i}", value) for i in _touched(k)]
            random.Random(100 * k + r).shuffle(rows)
            path = tmp_path / f"labels-w{k}-r{r}.csv"
            with open(path, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["id", "label", "annotator"])
                w.writerows([uid, v, f"worker{k}"] for uid, v in rows)
            files[str(path)] = dict(rows)

    def worker(k):
        project = Project.open(tmp_path / "p")
        try:
            return [
                import_labels(project, tmp_path / f"labels-w{k}-r{r}.csv") for r in range(N_ROUNDS)
            ]
        finally:
            project.close()

    results = [r for rs in _run_all(worker) for r in rs]

    with p.session() as s:
        uid_of = dict(s.execute(select(Sample.id, Sample.uid)).all())
        history = defaultdict(list)
        for sid, value, status, who in s.execute(
            select(Label.sample_id, Label.value, Label.status, Label.annotator).order_by(Label.id)
        ):
            history[uid_of[sid]].append((value, status, who))
        imports = s.execute(
            select(Event.id, Event.payload).where(Event.kind == "labels.import").order_by(Event.id)
        ).all()
    touched = {f"s{i}" for k in range(N_WORKERS) for i in _touched(k)}
    # exactly one accepted label per labeled sample, none for the others
    accepted = Counter(uid for uid, h in history.items() for _, st, _ in h if st == "accepted")
    assert set(accepted) == touched and set(accepted.values()) == {1}
    assert set(history) == touched
    # the history: accepted last, every earlier one superseded, a row only where it changed
    for uid, h in history.items():
        assert [st for _, st, _ in h] == ["superseded"] * (len(h) - 1) + ["accepted"], uid
        assert all(a[0] != b[0] for a, b in zip(h, h[1:], strict=False)), uid
    # nothing lost, nothing counted twice
    assert len(imports) == N_WORKERS * N_ROUNDS == len(results)
    assert sum(r.new for r in results) == len(touched)
    assert sum(r.new + r.changed for r in results) == sum(len(h) for h in history.values())
    assert sum(r.new + r.changed + r.unchanged for r in results) == sum(
        len(v) for v in files.values()
    )
    # a sample's label comes from the last import (in commit order) that touched it
    last = {}
    for _, payload in imports:  # event ids follow commit order among imports sharing a sample
        for uid, value in files[payload["source"]].items():
            last[uid] = value
    final = {uid: h[-1][0] for uid, h in history.items()}
    assert final == last
    for k in range(N_WORKERS):  # the samples only worker k touched carry its last round's value
        assert final[f"s{200 + 25 * k}"] == CLASSES[(k + N_ROUNDS - 1) % len(CLASSES)]


def test_concurrent_pool_imports_get_distinct_ids_and_batches(tmp_path, db):
    p = Project.init(tmp_path / "p", classes=["a", "b"], db=db())
    for k in range(N_WORKERS):
        (tmp_path / f"pool{k}.csv").write_text(
            "id,x,label\n" + "".join(f"w{k}-{i},{i},{'ab'[i % 2]}\n" for i in range(300))
        )
    (tmp_path / "clash.csv").write_text("id,x\nw3-7,1\nnew-1,2\n")

    def worker(k):
        project = Project.open(tmp_path / "p")
        try:
            return import_pool(project, tmp_path / f"pool{k}.csv", id_column="id", target="label")
        finally:
            project.close()

    results = _run_all(worker)
    assert [(r.n_samples, r.n_labels) for r in results] == [(300, 300)] * N_WORKERS
    with p.session() as s:
        rows = s.execute(select(Sample.id, Sample.uid, Sample.import_id)).all()
        n_labels = s.scalar(select(func.count()).select_from(Label))
    assert len(rows) == len({r.id for r in rows}) == N_WORKERS * 300 == n_labels
    batches = defaultdict(set)
    for r in rows:
        batches[r.import_id].add(r.uid.split("-")[0])
    assert sorted(batches) == list(range(1, N_WORKERS + 1))  # one import id per import
    assert all(len(w) == 1 for w in batches.values())
    assert p.current_labels() == {
        r.id: "ab"[int(r.uid.split("-")[1]) % 2] for r in rows
    }  # each label on its own sample
    # later writes that let the database number the rows still work (no stale sequence)
    with pytest.raises(Exception, match="already in the project"):
        import_pool(p, tmp_path / "clash.csv", id_column="id")
    with transaction(p.session) as s:
        s.add(Sample(uid="by-hand", split="pool"))
    (tmp_path / "more.csv").write_text("id,x\nmore-1,1\nmore-2,2\n")
    import_pool(p, tmp_path / "more.csv", id_column="id")
    with transaction(p.session) as s:
        s.add(Sample(uid="by-hand-2", split="pool"))
    ids, uids = p.sample_ids()
    assert len(set(ids.tolist())) == len(ids) == N_WORKERS * 300 + 4
    assert list(uids[-4:]) == ["by-hand", "more-1", "more-2", "by-hand-2"]


def test_older_databases_keep_only_the_newest_accepted_label(tmp_path, db):
    from alembic import command

    from labelwise.store._db import _alembic_config, current_revision, make_engine, migrate

    engine = make_engine(db() or f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:  # a 0001 database written by racing imports
        command.upgrade(_alembic_config(conn), "0001")
    with transaction(sessionmaker(engine)) as s:
        s.add_all([Sample(uid="a", split="pool"), Sample(uid="b", split="pool")])
        s.flush()
        for uid, value, status in [
            ("a", "x", "accepted"),
            ("a", "y", "accepted"),
            ("b", "x", "accepted"),
            ("a", "z", "superseded"),
            ("a", "w", "accepted"),
        ]:
            sid = s.scalar(select(Sample.id).where(Sample.uid == uid))
            # the 0001 columns only: the ORM model knows columns added later
            s.execute(
                text(
                    "insert into label (sample_id, value, status, created_at) "
                    "values (:sid, :value, :status, current_timestamp)"
                ),
                {"sid": sid, "value": value, "status": status},
            )
    migrate(engine)
    assert current_revision(engine) == "0005"
    with sessionmaker(engine)() as s:
        rows = s.execute(
            select(Sample.uid, Label.value, Label.status)
            .join(Sample, Sample.id == Label.sample_id)
            .order_by(Label.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("a", "x", "superseded"),
        ("a", "y", "superseded"),
        ("b", "x", "accepted"),
        ("a", "z", "superseded"),
        ("a", "w", "accepted"),
    ]
    with pytest.raises(IntegrityError), transaction(sessionmaker(engine)) as s:
        s.add(Label(sample_id=s.scalar(select(Sample.id).where(Sample.uid == "b")), value="y"))
    engine.dispose()
