"""Twenty annotators labeling at once against a real server, on SQLite and PostgreSQL:
no sample is handed out twice, no acknowledged submit is lost, no label is duplicated."""

import threading

import httpx
from webutil import label_until_empty, make_project, running_server, stored_web_work

N_ANNOTATORS = 20


def test_twenty_annotators_at_once_lose_and_duplicate_nothing(tmp_path, db):
    users = {f"a{i:02d}": f"password-{i:02d}" for i in range(N_ANNOTATORS)}
    p, truth = make_project(tmp_path / "p", db=db(), n=400, batch=300, users=users)
    from labelwise.web import create_app

    app = create_app(p)
    acked: dict[str, list[tuple[int, str]]] = {u: [] for u in users}
    errors: list[str] = []
    start = threading.Barrier(N_ANNOTATORS)

    def annotator(name: str, base: str) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            r = c.post("/api/login", json={"username": name, "password": users[name]})
            c.headers["X-CSRF-Token"] = r.json()["csrf"]
            label_until_empty(c, start, acked[name], errors)

    with running_server(app) as base:
        threads = [threading.Thread(target=annotator, args=(u, base)) for u in users]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    assert not errors, errors[:5]
    all_acked = [x for rows in acked.values() for x in rows]
    assert len(all_acked) == 300  # every selected sample labeled once
    assert len({uid for _, uid in all_acked}) == 300  # nobody got a sample someone else had
    assert sum(1 for rows in acked.values() if rows) > N_ANNOTATORS // 2  # they really shared
    stored, per_sample, open_work, _ = stored_web_work(p)
    assert sorted(stored) == sorted(all_acked)  # every acknowledged submit is stored, once
    assert max(per_sample.values()) == 1 and len(per_sample) == 300
    assert open_work == 0
    p.close()
