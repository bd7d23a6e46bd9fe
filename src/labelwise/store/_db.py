"""Engines, migrations and transactions for the project store.

SQLite (the default: one file in the project folder) runs in WAL mode with
foreign keys on and ``synchronous=FULL``, so a label acknowledged by a commit
survives a kill. PostgreSQL is used when the project is given a URL.
Migrations are Alembic's, numbered, shipped inside the package.

The SQLite file holds the users' password hashes: :func:`make_engine` creates a new
one readable by its owner only (0600); SQLite gives its ``-wal`` and ``-shm`` files
the same mode. :func:`world_readable` lists the files of an older project that
other users of the machine can read.

Concurrent writers: on SQLite every :func:`transaction` starts with
``BEGIN IMMEDIATE``, so writers queue for the write lock (up to the 30 s busy
timeout) before they read what they will change; reads run in their own deferred
transactions and never wait (WAL). On PostgreSQL (READ COMMITTED) writers that
must not interleave take a lock first (:func:`advisory_lock`, or row locks).

Several processes on one SQLite file (``serve --workers N``): each engine made with
``process_lock=True`` also takes an exclusive ``flock`` on ``DB-writelock`` beside the
database before ``BEGIN IMMEDIATE``, so writers of every process queue in the kernel
instead of polling SQLite's busy handler. SQLite's own lock still guarantees
correctness; the file lock only makes the wait short and fair.

Durability: a :func:`transaction` commits durably (``synchronous=FULL`` on SQLite; on
PostgreSQL its default ``synchronous_commit``). One opened with ``durable=False``
(handing out an item, renewing a lease) does not wait for the disk: a power cut may
forget it, never half of it, and the next durable commit makes it durable too (SQLite's
WAL and PostgreSQL's WAL are written in order). A process kill forgets nothing.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, event, exc, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "make_engine",
    "migrate",
    "current_revision",
    "transaction",
    "advisory_lock",
    "refresh_planner_stats",
    "retry_on_disconnect",
    "single_read",
    "MIGRATIONS",
    "sqlite_files",
    "world_readable",
]

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 30
_WRITE = "labelwise_write"  # execution option: this transaction will write
_LAZY = "labelwise_lazy"  # execution option: this write need not wait for the disk
_ALEMBIC = threading.Lock()  # Alembic's command API keeps module-level state
_HEAD: list[str] = []
_AT_COMMIT = "labelwise_at_commit"  # set on an error raised by a transaction's COMMIT
T = TypeVar("T")
#: PostgreSQL pool, per process: enough connections for the requests one ``serve``
#: worker runs at once (a connection opened past it is closed again on return, and a
#: new server backend costs milliseconds of CPU each time)
POOL_SIZE = 20
POOL_OVERFLOW = 10
#: replace a PostgreSQL connection this old at checkout (firewalls drop idle ones)
POOL_RECYCLE_S = 1800
#: check a PostgreSQL connection at checkout when it sat idle this long
IDLE_PING_S = 10.0


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _finite(o):
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_finite(v) for v in o]
    return o


def json_dumps(o) -> str:
    """Standard JSON for every backend: NaN and infinities become null, numpy becomes Python.

    PostgreSQL's ``json`` type rejects ``NaN``; SQLite would store it. Both store null.
    """
    try:
        return json.dumps(o, default=_json_default, allow_nan=False)
    except ValueError:
        return json.dumps(
            _finite(json.loads(json.dumps(o, default=_json_default))), allow_nan=False
        )


def sqlite_files(url: str) -> list[Path]:
    """The database file of a SQLite URL and its ``-wal`` and ``-shm`` files ([] otherwise)."""
    u = make_url(url)
    if not u.drivername.startswith("sqlite") or u.database in (None, "", ":memory:"):
        return []
    if u.database.startswith("file:"):  # a URI filename: its own rules, left alone
        return []
    db = Path(u.database)
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def world_readable(url: str) -> list[Path]:
    """The files of this SQLite database that every user of the machine may read."""
    found = []
    for f in sqlite_files(url):
        try:
            if f.stat().st_mode & 0o004:
                found.append(f)
        except OSError:  # not there (no -wal yet): nothing to read
            continue
    return found


def _create_private(db: Path) -> None:
    """Create an empty database file readable and writable by its owner only."""
    if not db.parent.is_dir():
        return  # SQLite says what is wrong with the path
    try:
        fd = os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # an existing database keeps its mode (``serve`` warns when others read it)
    os.close(fd)


def make_engine(url: str, *, process_lock: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    A SQLite file that does not exist yet is created with mode 0600 first.
    ``process_lock``: writers also queue on a file lock shared with the other
    processes that open the same SQLite file this way (see the module docstring).
    """
    if url.startswith("sqlite"):
        files = sqlite_files(url)
        if files:
            _create_private(files[0])
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_S}, json_serializer=json_dumps
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            # SQLAlchemy emits BEGIN itself (below), not pysqlite, which would start
            # transactions only at the first write and leave the reads before it outside.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # A writer takes the write lock first, waiting on busy_timeout; a deferred
            # transaction that reads and then writes would get SQLITE_BUSY at once when
            # another writer committed in between (its snapshot is stale).
            options = conn.get_execution_options()
            write = options.get(_WRITE, False)
            if write:  # the pragma only changes outside a transaction: set it before BEGIN
                sync = "NORMAL" if options.get(_LAZY, False) else "FULL"
                if conn.info.get("synchronous") != sync:
                    conn.exec_driver_sql(f"PRAGMA synchronous={sync}")
                    conn.info["synchronous"] = sync
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        # Writers of this process queue on a lock before they ask SQLite for its write
        # lock: SQLite's own busy handler sleeps with growing back-off (up to 100 ms a
        # try) and lets late comers win, which gives a tail of seconds under 20 writers.
        engine.info_write_lock = threading.RLock()  # type: ignore[attr-defined]
        if process_lock and files:
            engine.info_process_lock = _FileLock(files[0])  # type: ignore[attr-defined]
        return engine
    engine = create_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_recycle=POOL_RECYCLE_S,
        json_serializer=json_dumps,
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection at checkout only when it sat idle for ``IDLE_PING_S``.

    ``pool_pre_ping`` would spend a round trip on every checkout; a connection handed
    back a moment ago is almost surely alive, and when it is not (the server restarted
    under load) the hot path retries once (:func:`retry_on_disconnect`). A dead idle
    connection is replaced here, before anyone uses it.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record) -> None:
        if record is not None:
            record.info["labelwise_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy) -> None:
        since = record.info.get("labelwise_idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_S:
            return  # new, or back in the pool a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as e:
            if not engine.dialect.is_disconnect(e, dbapi_conn, None):
                raise
            alive = False
        if not alive:  # the pool throws it away and checks out another
            raise exc.DisconnectionError("the pooled connection was closed by the server")


def refresh_planner_stats(engine: Engine, table: str) -> None:
    """Bring PostgreSQL's planner statistics of ``table`` up to date (``ANALYZE``).

    After a bulk insert into a table the planner still believes nearly empty, its
    plans can be ruinous until autovacuum gets round to it (a minute or more): the
    claim query sorted the whole queue on every call. ``ANALYZE`` reads a bounded
    sample of rows (tens of milliseconds). SQLite: nothing to do.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql(f'ANALYZE "{table}"')
        conn.commit()


@contextmanager
def single_read(engine: Engine):
    """A connection for one read statement, which sees one snapshot by itself.

    On PostgreSQL it runs in autocommit: one round trip, where a transaction would add
    a ``BEGIN`` and a ``ROLLBACK``.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def retry_on_disconnect(work: Callable[[], T]) -> T:
    """Run ``work``; run it once more when the server connection was lost in it.

    For work whose every write is one :func:`transaction`: a transaction that lost its
    connection before its commit was rolled back by the server, so running it again
    neither loses nor repeats anything. A loss *during* the commit leaves the outcome
    unknown: that error is raised, never retried (see :func:`transaction`).
    """
    try:
        return work()
    except exc.DBAPIError as e:
        if not e.connection_invalidated or getattr(e, _AT_COMMIT, False):
            raise
    return work()


class _FileLock:
    """An exclusive ``flock`` on ``DB-writelock``, shared by the processes writing to DB.

    Held only between the in-process lock and the end of a transaction, so one thread
    per process waits on it; the kernel wakes the next waiter when it is released.
    Where ``fcntl`` is missing (Windows) it does nothing: SQLite's busy timeout remains.
    """

    def __init__(self, db: Path):
        self.path = db.with_name(db.name + "-writelock")
        self._fd: int | None = None
        self._pid = -1

    def _file(self) -> int:
        if self._pid != os.getpid():  # a forked child opens its own descriptor
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        fcntl.flock(self._file(), fcntl.LOCK_EX)

    def release(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        fcntl.flock(self._file(), fcntl.LOCK_UN)


def advisory_lock(session: Session | Connection, key: str) -> None:
    """Hold a lock named ``key`` until the session's transaction ends (PostgreSQL).

    Writers that compute the next number (``max(...) + 1``) or check-then-insert take
    it first, so they run one after another. On SQLite it is a no-op: a
    :func:`transaction` already holds the database's write lock.
    """
    bind = session.get_bind() if isinstance(session, Session) else session
    if bind.dialect.name == "postgresql":
        session.execute(
            text("select pg_advisory_xact_lock(hashtext(:key))"), {"key": f"labelwise:{key}"}
        )


def _alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _head() -> str:
    if not _HEAD:
        from alembic.script import ScriptDirectory

        _HEAD.append(ScriptDirectory.from_config(_alembic_config(None)).get_current_head())
    return _HEAD[0]


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent, safe from several threads)."""
    from alembic import command

    with _ALEMBIC:
        if current_revision(engine) == _head():
            return  # the usual case: nothing to do, and no write lock taken
        with engine.connect() as conn:
            conn = conn.execution_options(**{_WRITE: True})
            with conn.begin():
                advisory_lock(conn, "migrate")  # one migrator at a time
                command.upgrade(_alembic_config(conn), "head")


def current_revision(engine: Engine) -> str | None:
    """The schema's migration revision, or None for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("select version_num from alembic_version")).scalar()


@contextmanager
def transaction(factory: sessionmaker, *, durable: bool = True):
    """A session whose work commits together or not at all.

    On SQLite it holds the write lock from its start (``BEGIN IMMEDIATE``), so what it
    reads is still true when it writes; threads of one process take turns on an
    in-process lock first, then processes opened with ``process_lock`` on a file lock
    (others wait on SQLite's busy timeout). ``durable=False``: the commit does not wait
    for the disk (see the module docstring); for work whose loss in a power cut is
    harmless, such as handing out an item.
    """
    bind = factory.kw.get("bind")
    lock = getattr(bind, "info_write_lock", None)
    shared = getattr(bind, "info_process_lock", None)
    if lock is not None:
        lock.acquire()
    try:
        if shared is not None:
            shared.acquire()
        try:
            session: Session = factory()
            try:
                conn = session.connection(execution_options={_WRITE: True, _LAZY: not durable})
                if not durable and conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                yield session
                try:
                    session.commit()
                except exc.DBAPIError as e:
                    setattr(e, _AT_COMMIT, True)  # its outcome is unknown: never retried
                    raise
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
        finally:
            if shared is not None:
                shared.release()
    finally:
        if lock is not None:
            lock.release()
