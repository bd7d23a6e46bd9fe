"""``embed --method`` on data it does not fit: one line naming the fitting methods."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from labelwise.cli import main
from labelwise.embed import compute_features
from labelwise.errors import InvalidInputError
from labelwise.io._samples import import_pool
from labelwise.store import Project


def _project(tmp_path, kind: str) -> Project:
    p = Project.init(tmp_path / "proj", classes=["a", "b"])
    if kind == "table":
        (tmp_path / "t.csv").write_text("id,x1,x2\nq1,1,2\nq2,3,4\nq3,5,7\n")
        import_pool(p, tmp_path / "t.csv", id_column="id")
    elif kind == "text":
        (tmp_path / "t.csv").write_text("id,body\nq1,red apples\nq2,green pears\nq3,ripe plums\n")
        import_pool(p, tmp_path / "t.csv", id_column="id", text_column="body")
    else:
        from PIL import Image

        folder = tmp_path / "imgs"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(3):
            pixels = rng.integers(0, 255, (8, 8), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"im{i}.png")
        import_pool(p, folder)
    return p


@pytest.mark.parametrize(
    ("kind", "method", "fits"),
    [
        ("table", "pixels", "use --method auto or tabular"),
        ("table", "tfidf", "use --method auto or tabular"),
        ("table", "minilm", "use --method auto or tabular"),
        ("text", "tabular", "use --method auto or tfidf or minilm"),
        ("text", "pixels", "use --method auto or tfidf or minilm"),
        ("images", "tabular", "use --method auto or pixels or efficientnet_lite0"),
        ("images", "tfidf", "use --method auto or pixels or efficientnet_lite0"),
        ("table", "efficientnet_lite0", "use --method auto or tabular"),
        ("text", "efficientnet_lite0", "use --method auto or tfidf or minilm"),
    ],
)
def test_a_method_that_does_not_fit_is_refused(tmp_path, kind, method, fits):
    p = _project(tmp_path, kind)
    names = {"table": "3 table rows", "text": "3 texts", "images": "3 images"}
    with pytest.raises(InvalidInputError) as e:
        compute_features(p, method=method)
    msg = str(e.value)
    assert f"--method {method} does not fit" in msg and names[kind] in msg and fits in msg
    assert p.latest_artifact("features") is None


@pytest.mark.parametrize(("kind", "dim"), [("table", 2), ("images", 32 * 32)])
def test_auto_still_fits(tmp_path, monkeypatch, kind, dim):
    # without the image extra (hidden), auto reads images as pixels; with it, see
    # test_backbone.py
    monkeypatch.setattr("labelwise.embed._features.image_backbone_available", lambda: False)
    art = compute_features(_project(tmp_path, kind))
    assert (art.info["n_samples"], art.info["dim"]) == (3, dim)


@pytest.mark.parametrize("method", ["pixels", "tfidf"])
def test_embed_cli_says_it_in_one_line(tmp_path, capsys, monkeypatch, method):
    _project(tmp_path, "table").close()
    monkeypatch.setattr(
        sys, "argv", ["labelwise", "embed", str(tmp_path / "proj"), "--method", method]
    )
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert e.value.code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert "table rows" in lines[0] and "auto or tabular" in lines[0]
    assert Project.open(tmp_path / "proj").latest_artifact("features") is None
