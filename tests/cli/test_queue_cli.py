"""The queue and ontology from the shell: serve --lease-minutes, users set --disabled,
train and status after a class is retired."""

import csv
import json
import socket
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelwise.annotate import assign, list_users, queue_counts, retire_class
from labelwise.cli import app
from labelwise.io._labels import import_labels

sys.path.insert(0, str(Path(__file__).parents[1] / "annotate"))
from annotate_util import build_project  # noqa: E402


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "600000"])
def test_serve_refuses_a_bad_lease_before_anything_is_written(tmp_path, bad):
    p, _ = build_project(tmp_path / "p", batch=0, users={})
    r = run("serve", p.path, "--lease-minutes", bad, "--port", _free_port())
    assert r.exit_code == 2
    assert "--lease-minutes" in r.output and len(r.output.strip().splitlines()) == 1
    assert list_users(p) == []  # no admin was created for a server that never started
    p.close()


def test_serve_hands_the_lease_to_the_app(tmp_path, monkeypatch):
    import uvicorn

    from labelwise.web._app import WORKER_ENV, worker_app

    for name in WORKER_ENV:  # serve sets them for its workers; restored after the test
        monkeypatch.delenv(name, raising=False)
    seen = {}
    monkeypatch.setattr(
        uvicorn, "run", lambda application, **kw: seen.update(app=application, kw=kw)
    )
    p, _ = build_project(tmp_path / "p", batch=0)
    r = run("serve", p.path, "--lease-minutes", "45", "--port", _free_port(), "--workers", "1")
    assert r.exit_code == 0, r.output
    assert seen["app"].state.lease_minutes == 45
    # several workers (the default on SQLite is 2): each builds the app from the environment
    r = run("serve", p.path, "--port", _free_port())
    assert r.exit_code == 0, r.output
    assert seen["app"] == "labelwise.web._app:worker_app" and seen["kw"]["factory"] is True
    assert seen["kw"]["workers"] == 2
    app = worker_app()
    assert app.state.lease_minutes == 30
    r = run("serve", p.path, "--lease-minutes", "45", "--port", _free_port(), "--workers", "3")
    assert seen["kw"]["workers"] == 3 and worker_app().state.lease_minutes == 45
    p.close()


def test_disabling_a_user_from_the_shell_releases_their_items(tmp_path):
    p, _ = build_project(tmp_path / "p", batch=6)
    assign(p, ["ann"], n=4)
    r = run("users", "set", p.path, "ann", "--disabled")
    assert r.exit_code == 0, r.output
    assert "4 item(s) they held went back to the queue" in r.output
    counts = queue_counts(p)
    assert counts["assigned"] == 0 and counts["released"] == 4 and counts["queued"] == 6
    p.close()


def test_train_and_status_count_the_labels_of_retired_classes(tmp_path):
    p, truth = build_project(tmp_path / "p", n=60, batch=0, users={})
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["id", "label"], *([f"s{i}", truth[f"s{i}"]] for i in range(30))])
    import_labels(p, tmp_path / "labels.csv")
    retire_class(p, "c")  # every third sample: 10 of the 30 labels
    r = run("train", p.path)
    assert r.exit_code == 0, r.output
    assert "10 labels of retired classes excluded" in r.output
    assert "on 20 labels" in r.output
    st = json.loads(run("status", p.path, "--json").stdout)
    assert st["n_retired_labels"] == 10 and st["labels_per_class"] == {"a": 10, "b": 10}
    p.close()
