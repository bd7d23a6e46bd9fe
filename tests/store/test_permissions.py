"""The project folder and its database are its owner's only: 0700 and 0600 (the database
holds the password hashes); ``serve`` warns about an older, world-readable one."""

import os
import socket
import stat

import numpy as np
import pytest
from typer.testing import CliRunner

from labelwise.store import Project
from labelwise.store._db import world_readable


@pytest.fixture()
def loose_umask():
    """The common umask 022, which makes files 0644 unless the code asks for less."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_project_is_its_owners_only(tmp_path, loose_umask):
    p = Project.init(tmp_path / "proj", classes=["a", "b"])
    p.add_artifact("features", np.zeros(3).tobytes(), ".npy", {})
    p.add_artifact("model", b"model bytes", ".pkl", {})
    p.log("test.write", {"n": 1})  # WAL mode: the -wal and -shm files exist while open
    db = tmp_path / "proj" / "labelwise.db"
    files = [db, db.with_name("labelwise.db-wal"), db.with_name("labelwise.db-shm")]
    assert all(f.exists() for f in files)
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(tmp_path / "proj") == 0o700
    assert mode(tmp_path / "proj" / "artifacts") == 0o700
    for f in (tmp_path / "proj" / "artifacts").iterdir():
        assert mode(f) == 0o600, f
    assert mode(tmp_path / "proj" / "labelwise.json") == 0o600
    assert world_readable(p.url) == []
    p.close()


def test_a_folder_that_already_existed_keeps_its_mode_but_the_database_is_private(
    tmp_path, loose_umask
):
    (tmp_path / "mine").mkdir(mode=0o755)
    p = Project.init(tmp_path / "mine", classes=["a", "b"])
    assert mode(tmp_path / "mine") == 0o755  # the user's own folder: not ours to change
    assert mode(tmp_path / "mine" / "labelwise.db") == 0o600
    p.close()


def test_serve_warns_once_about_a_world_readable_database(tmp_path, monkeypatch, loose_umask):
    import uvicorn

    from labelwise.annotate import add_user
    from labelwise.cli import app

    p = Project.init(tmp_path / "old", classes=["a", "b"])
    add_user(p, "boss", "boss-pass-1", "admin")
    p.close()
    db = tmp_path / "old" / "labelwise.db"
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: None)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])

    def serve():
        r = CliRunner().invoke(
            app, ["serve", str(tmp_path / "old"), "--port", port], env={"COLUMNS": "400"}
        )
        assert r.exit_code == 0, r.output
        return r.output

    assert "warning" not in serve()
    os.chmod(db, 0o644)  # as projects made before this fix are
    out = serve()
    assert out.count("can be read by every user") == 1
    assert f"chmod 600 {db}" in out.replace("\n", " ")
    assert mode(db) == 0o644  # a warning, not a change behind the owner's back
