"""Helpers for web tests: a small real project and logged-in clients."""

from contextlib import contextmanager

import pandas as pd
from fastapi.testclient import TestClient

from labelwise.annotate import add_user
from labelwise.embed import compute_features
from labelwise.io._samples import import_pool
from labelwise.loop._project import select_batch
from labelwise.store import Project

PASSWORDS = {"ann": "ann-pass-1", "ann2": "ann2-pass-1", "rev": "rev-pass-1", "boss": "boss-pass-1"}
ROLES = {"ann": "annotator", "ann2": "annotator", "rev": "reviewer", "boss": "admin"}


def make_project(path, *, db=None, n=300, batch=60, users=PASSWORDS):
    """A digits project (first ``n`` images as tabular rows) with a selected batch."""
    from sklearn.datasets import load_digits

    d = load_digits()
    df = pd.DataFrame(d.data[:n], columns=[f"p{i}" for i in range(64)])
    df.insert(0, "id", [f"d{i}" for i in range(n)])
    csv = path.parent / f"{path.name}_pool.csv"
    df.to_csv(csv, index=False)
    p = Project.init(path, classes=[str(c) for c in range(10)], db=db)
    import_pool(p, csv, id_column="id")
    compute_features(p)
    select_batch(p, strategy="random", batch_size=batch, random_state=0)
    for name, pw in users.items():
        add_user(p, name, pw, ROLES.get(name, "annotator"))
    return p, d.target[:n]


def login(app, name, password=None) -> TestClient:
    """A client logged in as ``name``; its CSRF header is set for every request."""
    c = TestClient(app)
    r = c.post("/api/login", json={"username": name, "password": password or PASSWORDS[name]})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf"]
    return c


@contextmanager
def running_server(app):
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def label_until_empty(c, start, acked: list, errors: list, *, until=None) -> None:
    """One annotator's loop on a logged-in httpx client: next, submit "1", until the
    queue is empty (or ``until``, a monotonic time); acknowledged (label_id, uid) pairs
    go to ``acked``, the first failure to ``errors``. ``start`` is a shared barrier."""
    import time

    start.wait()
    while until is None or time.monotonic() < until:
        r = c.get("/api/next")
        if r.status_code != 200:
            errors.append(f"next {r.status_code} {r.text[:200]}")
            return
        item = r.json()
        if item["assignment"] is None:
            return
        body = {"assignment_id": item["assignment"]["id"], "label": "1"}
        r = c.post("/api/submit", json=body)
        if r.status_code != 200:
            errors.append(f"submit {r.status_code} {r.text[:200]}")
            return
        acked.append((r.json()["label_id"], item["sample"]["uid"]))


def stored_web_work(p):
    """What the store holds after annotators worked: ``(stored, per_sample, open_work, events)``.

    ``stored`` the (label id, sample uid) of every web label, ``per_sample`` a Counter of
    accepted labels per sample, ``open_work`` the assignments still queued or assigned,
    ``events`` the ``label.submit`` audit events.
    """
    from collections import Counter

    from sqlalchemy import func, select

    from labelwise.store._models import Assignment, Event, Label, Sample

    with p.session() as s:
        stored = s.execute(
            select(Label.id, Sample.uid)
            .join(Sample, Sample.id == Label.sample_id)
            .where(Label.source == "web")
        ).all()
        per_sample = Counter(
            s.scalars(select(Label.sample_id).where(Label.status == "accepted")).all()
        )
        open_work = s.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.status.in_(("queued", "assigned")))
        )
        events = s.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "label.submit")
        )
    return stored, per_sample, open_work, events
