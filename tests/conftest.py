"""Shared fixtures. Store and web tests run on both backends: SQLite and a real PostgreSQL.

The ``db`` fixture is a factory: each call gives the URL of a fresh, empty database
(``None`` for SQLite: the file beside the project's config). PostgreSQL tests carry the
``postgres`` marker; without a reachable server they fail, saying so. Deselect them with
``-m "not postgres"``.
"""

import os
import re
import uuid

import pytest

DEFAULT_PG = "postgresql+psycopg://labelwise:labelwise@127.0.0.1:5432/labelwise_test"


def pg_base_url() -> str:
    return os.environ.get("LABELWISE_TEST_PG") or DEFAULT_PG


def _libpq(url: str):
    """(libpq URL of the base database, the SQLAlchemy URL object)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return u.set(drivername="postgresql").render_as_string(hide_password=False), u


class PgDatabases:
    """Creates uniquely named databases on the test server and drops them afterwards."""

    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError:
            pytest.fail(
                "psycopg is not installed: pip install -e '.[dev]' (or '.[postgres]'), or "
                "deselect these tests with -m 'not postgres'.",
                pytrace=False,
            )

        self.url = url
        admin, self.sa_url = _libpq(url)
        try:
            self.conn = psycopg.connect(admin, autocommit=True, connect_timeout=5)
        except psycopg.Error as e:
            shown = self.sa_url.render_as_string(hide_password=True)
            pytest.fail(
                f"PostgreSQL is not reachable at {shown} ({type(e).__name__}: "
                f"{str(e).strip()}). Start it (see RECIPES.md, 'Real PostgreSQL for the store "
                "tests'), point LABELWISE_TEST_PG at a server, or deselect these tests with "
                "-m 'not postgres'.",
                pytrace=False,
            )
        self.names: list[str] = []

    def new(self, test_name: str) -> str:
        slug = re.sub(r"[^a-z0-9]+", "_", test_name.lower())[:30]
        name = f"lwt_{slug}_{uuid.uuid4().hex[:10]}"
        self.conn.execute(f'create database "{name}"')
        self.names.append(name)
        return self.sa_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        import time

        import psycopg

        for name in self.names:
            # WITH (FORCE) may not end a backend of another role: an autovacuum worker
            # that just entered the fresh database. It leaves within moments: try again.
            for attempt in range(40):
                try:
                    self.conn.execute(f'drop database if exists "{name}" with (force)')
                    break
                except psycopg.errors.InsufficientPrivilege:
                    if attempt == 39:
                        raise
                    time.sleep(0.25)
        self.conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    """The backend under test: 'sqlite' or 'postgres'."""
    return request.param


@pytest.fixture()
def db(backend, request):
    """Factory: ``db()`` is the ``db=`` URL of a fresh, empty database of the backend."""
    if backend == "sqlite":
        yield lambda: None
        return
    dbs = PgDatabases(pg_base_url())
    try:
        yield lambda: dbs.new(request.node.name)
    finally:
        dbs.drop_all()


@pytest.fixture()
def bc_csv(tmp_path):
    """scikit-learn's breast cancer set as ``tmp_path/bc.csv``: ``id`` (r0...), 30 features,
    ``diagnosis`` (malignant/benign). Returns the path and the frame written."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer(as_frame=True)
    df = d.data.copy()
    df.insert(0, "id", [f"r{i}" for i in range(len(df))])
    df["diagnosis"] = np.where(d.target == 0, "malignant", "benign")
    path = tmp_path / "bc.csv"
    df.to_csv(path, index=False)
    return path, df
