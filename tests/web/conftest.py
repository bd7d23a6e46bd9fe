"""Fixtures for web tests: a small real project (digits, one selected round, four users)."""

import pytest
from webutil import PASSWORDS, login, make_project


@pytest.fixture()
def web_project(tmp_path):
    """(project, truth) on SQLite: truth maps sample id -> its digit."""
    p, truth = make_project(tmp_path / "proj")
    yield p, {f"d{i}": str(t) for i, t in enumerate(truth)}
    p.close()


@pytest.fixture()
def app(web_project):
    from labelwise.web import create_app

    return create_app(web_project[0])


@pytest.fixture()
def as_user(app):
    """Factory: ``as_user("ann")`` is a logged-in TestClient (CSRF header set)."""
    return lambda name, password=None: login(app, name, password or PASSWORDS[name])
