"""Fixtures for the annotation workflow: a small real project on both backends."""

import pytest
from annotate_util import build_project


@pytest.fixture()
def project(tmp_path, db):
    """(project, truth): 40 samples, 6 selected, users ann, ann2 (annotators), rev, boss."""
    p, truth = build_project(tmp_path / "proj", db=db())
    yield p, truth
    p.close()
