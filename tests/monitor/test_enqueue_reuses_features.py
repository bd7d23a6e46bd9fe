"""``monitor --enqueue`` keeps the rows it embedded the batch with: no second embedding."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import labelwise.embed._features as features
from labelwise.embed import compute_features, load_features
from labelwise.io._samples import import_pool
from labelwise.loop._project import train
from labelwise.monitor._project import monitor_project
from labelwise.store import Project


def _images(folder, n, rng, level):
    folder.mkdir(parents=True)
    for i in range(n):
        a = np.clip(rng.normal(level, 30, size=(8, 8)), 0, 255).astype(np.uint8)
        Image.fromarray(a, mode="L").save(folder / f"{folder.name}{i}.png")


def _grey32(path) -> np.ndarray:
    """The ``pixels`` row of an image, computed here with PIL."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L").resize((32, 32)), dtype=np.float32).ravel() / 255.0


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(0)
    _images(tmp_path / "pool" / "dark", 30, rng, 60)
    _images(tmp_path / "pool" / "light", 30, rng, 190)
    _images(tmp_path / "prod", 20, rng, 120)  # between the two: uncertain, drifted
    p = Project.init(tmp_path / "proj", classes=["dark", "light"])
    import_pool(p, tmp_path / "pool")  # the sub-folders are classes: 60 labels
    compute_features(p, method="pixels")
    train(p)
    yield p, tmp_path
    p.close()


def test_enqueue_embeds_each_batch_row_once(images, monkeypatch):
    p, tmp = images
    X_old, ids_old, _ = load_features(p)
    seen = []
    pixels = features._pixels

    def counting(rows, progress):
        seen.extend(r.uri for r in rows)
        return pixels(rows, progress)

    monkeypatch.setattr(features, "_pixels", counting)
    run = monitor_project(p, tmp / "prod", enqueue=4)
    batch = sorted(str(f.resolve()) for f in (tmp / "prod").iterdir())
    assert sorted(seen) == batch  # the batch once; neither the pool nor the picks again
    assert len(run.report["enqueued"]) == 4
    X, ids, _ = load_features(p)
    assert X.shape == (64, 32 * 32) and set(ids[:60]) == set(ids_old)
    np.testing.assert_array_equal(X[np.isin(ids, ids_old)], X_old)
    with p.session() as s:
        from sqlalchemy import select

        from labelwise.store._models import Sample

        uri = dict(s.execute(select(Sample.id, Sample.uri)).all())
    for row, sid in zip(X[60:], ids[60:], strict=True):
        np.testing.assert_allclose(row, _grey32(uri[int(sid)]), atol=1e-6)


def test_enqueued_images_are_served_from_their_batch_folder_only(images, monkeypatch):
    # the web app serves media from the folders imports came from: the batch's folder,
    # not the folder the command ran in (before: the batch's name, so the working directory)
    from labelwise.web._app import media_roots

    p, tmp = images
    elsewhere = tmp / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monitor_project(p, tmp / "prod", enqueue=4)
    roots = media_roots(p)
    assert (tmp / "prod").resolve() in roots
    assert elsewhere.resolve() not in roots and tmp.resolve() not in roots
