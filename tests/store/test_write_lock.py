"""How a write transaction commits: durable by default, lazy when asked; and the file lock
that writers of several processes share on one SQLite file (``serve --workers N``)."""

import os

import pytest
from sqlalchemy import text

from labelwise.store import Project, transaction


def _setting(s) -> str:
    if s.get_bind().dialect.name == "sqlite":
        return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
            s.execute(text("PRAGMA synchronous")).scalar()
        ]
    return s.execute(text("SHOW synchronous_commit")).scalar()


def test_a_label_write_waits_for_the_disk_and_a_claim_need_not(tmp_path, db, backend):
    p = Project.init(tmp_path / "p", classes=["a", "b"], db=db())
    seen = []
    for durable in (True, False, True, False):
        with transaction(p.session, durable=durable) as s:
            seen.append(_setting(s))
    p.close()
    # SQLite keeps the setting per connection: FULL = wait for fsync on commit; NORMAL in
    # WAL mode = the commit survives a process kill, a power cut may forget it.
    # PostgreSQL: synchronous_commit is set for the one transaction only (SET LOCAL).
    want = ["FULL", "NORMAL"] * 2 if backend == "sqlite" else ["on", "off"] * 2
    assert seen == want  # and a lazy one never leaks into the next durable one


def test_writers_of_several_processes_queue_on_one_file_lock(tmp_path):
    fcntl = pytest.importorskip("fcntl")  # POSIX only; elsewhere SQLite's busy timeout stays
    Project.init(tmp_path / "p", classes=["a", "b"])
    shared = Project.open(tmp_path / "p", process_lock=True)
    alone = Project.open(tmp_path / "p")
    lock_file = tmp_path / "p" / "labelwise.db-writelock"

    def free() -> bool:  # another open file description: what another process would see
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    with transaction(shared.session):
        held_in_transaction = free()
    after = free()
    with transaction(alone.session):  # a project opened without it never takes the lock
        held_by_plain = not free()
    shared.close()
    alone.close()
    assert (held_in_transaction, after, held_by_plain) == (False, True, False)
