"""The labeling hot path: asking for work and submitting a label cost a fixed, small number
of statements in one transaction each, whatever the size of the queue (no N+1)."""

from annotate_util import build_project
from sqlalchemy import event

from labelwise import annotate


def _statements(p, call):
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if not statement.startswith(("PRAGMA", "SET LOCAL")):  # session settings, no data
            seen.append(statement.split(None, 1)[0].upper())

    event.listen(p.engine, "before_cursor_execute", count)
    begins: list[int] = []
    event.listen(p.engine, "begin", lambda conn: begins.append(1))
    try:
        out = call()
    finally:
        event.remove(p.engine, "before_cursor_execute", count)
    return out, [s for s in seen if s != "BEGIN"], len(begins)


def test_next_and_submit_run_a_few_statements_in_one_transaction_each(tmp_path, db):
    counts = []
    p, _ = build_project(tmp_path / "p", db=db(), n=300, batch=200)
    annotate.enqueue(p)
    for user in ("ann", "ann2") * 3:  # labels and done work pile up: the same cost
        item, next_sql, next_tx = _statements(p, lambda u=user: annotate.next_item(p, u))
        aid = item["assignment"]["id"]
        out, submit_sql, submit_tx = _statements(
            p, lambda u=user, a=aid: annotate.submit(p, u, a, "a")
        )
        assert out["status"] == "accepted"
        counts.append((len(next_sql), next_tx, len(submit_sql), submit_tx))
    p.close()
    # next: my item, project, pick, stale, take, classes, sample with its label;
    # submit: project, assignment, class, current label, insert label, done, renew, event
    # (PostgreSQL adds one row lock on the sample)
    assert all(nx <= 7 and ntx == 1 and sx <= 9 and stx == 1 for nx, ntx, sx, stx in counts)
    assert len(set(counts)) == 1, counts  # no statement grows with the queue or the labels
