"""PostgreSQL connections on the hot path: no liveness round trip on a busy pool, a connection
the server closed is replaced without the annotator noticing, and an unknown commit outcome is
never retried. A bulk enqueue refreshes the planner's statistics."""

import psycopg
import pytest
from annotate_util import build_project
from sqlalchemy import event, func, select
from sqlalchemy.exc import DBAPIError

from labelwise import annotate
from labelwise.annotate._queue import ANALYZE_AFTER
from labelwise.store import _db
from labelwise.store._models import Assignment, Label

pytestmark = pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)]
)


@pytest.fixture()
def pg(tmp_path, db):
    p, _ = build_project(tmp_path / "p", db=db(), n=30, batch=12)
    annotate.enqueue(p)
    yield p
    p.close()


def _libpq(p) -> str:
    return p.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _kill_others(p) -> int:
    """Terminate every server backend of the project's database but the caller's own."""
    with psycopg.connect(_libpq(p), autocommit=True) as c:
        return len(
            c.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid()"
            ).fetchall()
        )


def _pings(p, monkeypatch) -> list[int]:
    seen: list[int] = []
    real = p.engine.dialect.do_ping

    def ping(dbapi_conn):
        seen.append(1)
        return real(dbapi_conn)

    monkeypatch.setattr(p.engine.dialect, "do_ping", ping)
    return seen


def test_a_busy_pool_spends_no_round_trip_on_liveness(pg, monkeypatch):
    pings = _pings(pg, monkeypatch)
    for _ in range(3):
        item = annotate.next_item(pg, "ann")
        annotate.submit(pg, "ann", item["assignment"]["id"], "a")
    assert pings == []  # pool_pre_ping would have pinged at each of the 6+ checkouts


def test_next_and_submit_survive_connections_the_server_closed(pg, monkeypatch):
    pings = _pings(pg, monkeypatch)
    item = annotate.next_item(pg, "ann")  # the pool now holds a live connection
    assert _kill_others(pg) >= 1
    again = annotate.next_item(pg, "ann")  # retried once on a fresh connection
    assert again["assignment"]["id"] == item["assignment"]["id"]  # still the one held
    assert _kill_others(pg) >= 1
    out = annotate.submit(pg, "ann", item["assignment"]["id"], "b")
    assert out["status"] == "accepted"
    assert pings == []  # no liveness check: the retry did the work
    with pg.session() as s:  # stored exactly once
        rows = s.execute(
            select(Label.value, Label.annotator).where(
                Label.sample_id == item["sample"]["id"], Label.source == "web"
            )
        ).all()
    assert [tuple(r) for r in rows] == [("b", "ann")]
    token, _ = annotate.open_session(pg, annotate.authenticate(pg, "ann", "ann-pass-1"))
    assert _kill_others(pg) >= 1
    assert annotate.session_user(pg, token).name == "ann"


def test_a_connection_lost_at_commit_is_not_retried(pg):
    item = annotate.next_item(pg, "ann")
    commits: list[int] = []

    def kill_self(conn):  # the server goes away just before the submit's COMMIT
        commits.append(1)
        pid = conn.exec_driver_sql("select pg_backend_pid()").scalar()
        with psycopg.connect(_libpq(pg), autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (pid,))

    event.listen(pg.engine, "commit", kill_self)
    try:
        with pytest.raises(DBAPIError) as err:
            annotate.submit(pg, "ann", item["assignment"]["id"], "a")
    finally:
        event.remove(pg.engine, "commit", kill_self)
    assert err.value.connection_invalidated
    assert commits == [1]  # the outcome was unknown: the submit ran once, not twice
    with pg.session() as s:  # the server rolled it back: the item is still held
        assert s.scalar(select(func.count()).select_from(Label).where(Label.source == "web")) == 0
        status = s.scalar(
            select(Assignment.status).where(Assignment.id == item["assignment"]["id"])
        )
    assert status == "assigned"
    assert annotate.submit(pg, "ann", item["assignment"]["id"], "a")["status"] == "accepted"


def test_an_idle_connection_is_checked_and_replaced_before_use(pg, monkeypatch):
    pings = _pings(pg, monkeypatch)
    pg.classes()  # a connection goes back to the pool
    monkeypatch.setattr(_db, "IDLE_PING_S", 0.0)  # every pooled connection counts as idle
    assert _kill_others(pg) >= 1
    assert pg.classes() == ["a", "b", "c"]  # no retry on this path: the check replaced it
    assert len(pings) >= 1


def test_a_bulk_enqueue_refreshes_the_planner_statistics(tmp_path, db):
    p, _ = build_project(tmp_path / "big", db=db(), n=ANALYZE_AFTER + 100, batch=ANALYZE_AFTER)
    try:
        assert annotate.enqueue(p) == ANALYZE_AFTER
        with p.engine.connect() as c:
            tuples = c.exec_driver_sql(
                "select reltuples from pg_class where relname = 'assignment'"
            ).scalar()
        # never analyzed: -1 (the planner then guesses a near-empty table and sorted the
        # whole queue on every claim until autovacuum came by)
        assert tuples == ANALYZE_AFTER
    finally:
        p.close()
