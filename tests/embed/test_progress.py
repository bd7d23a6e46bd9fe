"""``compute_features`` tells what runs and how far it is, for every method (no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.embed import compute_features
from labelwise.io._samples import import_pool
from labelwise.store import Project


def _project(tmp_path, kind: str, n: int) -> Project:
    p = Project.init(tmp_path / "proj", classes=["a", "b"])
    rng = np.random.default_rng(0)
    if kind == "table":
        rows = "".join(f"q{i},{rng.normal():.4f},{rng.normal():.4f}\n" for i in range(n))
        (tmp_path / "t.csv").write_text("id,x1,x2\n" + rows)
        import_pool(p, tmp_path / "t.csv", id_column="id")
    elif kind == "text":
        words = ["red", "green", "ripe", "apples", "pears", "plums", "sweet", "sour"]
        rows = "".join(f"q{i},{' '.join(rng.choice(words, 4))}\n" for i in range(n))
        (tmp_path / "t.csv").write_text("id,body\n" + rows)
        import_pool(p, tmp_path / "t.csv", id_column="id", text_column="body")
    else:
        from PIL import Image

        folder = tmp_path / "imgs" / "a"
        folder.mkdir(parents=True)
        for i in range(n):
            px = rng.integers(0, 255, (8, 8), dtype=np.uint8)
            Image.fromarray(px).save(folder / f"{i}.png")
        import_pool(p, tmp_path / "imgs")
    return p


@pytest.mark.parametrize(
    ("kind", "method", "n", "line"),
    [
        ("table", "auto", 5, "scaling 5 table rows (tabular: numeric columns, standardised)"),
        ("text", "tfidf", 6, "embedding 6 texts with TF-IDF + SVD (LSA, up to 256-d)"),
        (
            "text",
            "auto",
            6,
            "embedding 6 texts with TF-IDF + SVD (LSA, up to 256-d), the default for text "
            "without the text extra",
        ),
        # 300 images: one full step of 256 and a remainder of 44 that must be reported too
        (
            "image",
            "auto",
            300,
            "reading 300 images as 32 x 32 grey pixels (pixels), the default for images "
            "without the image extra (pip install torch==2.13.0 'labelwise[image]' for "
            "EfficientNet-Lite0 features)",
        ),
        ("image", "pixels", 3, "reading 3 images as 32 x 32 grey pixels (pixels)"),
    ],
)
def test_progress_adds_up_to_n_samples_and_the_start_line_names_the_method(
    tmp_path, monkeypatch, kind, method, n, line
):
    # auto without the extras (hidden) says why the cheap method runs
    monkeypatch.setattr("labelwise.embed._features.image_backbone_available", lambda: False)
    monkeypatch.setattr("labelwise.embed._features.minilm_available", lambda: False)
    p = _project(tmp_path, kind, n)
    starts, calls = [], []
    art = compute_features(
        p, method=method, progress=calls.append, on_start=lambda t, s: starts.append((t, s))
    )
    assert starts == [(n, line)]
    assert sum(calls) == n and all(c > 0 for c in calls)
    assert art.info["n_samples"] == n
