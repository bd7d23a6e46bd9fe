"""``features: {method: efficientnet_lite0}`` in a pipeline file: accepted for an image folder,
refused for a table with the methods that fit (no torch needed: nothing is embedded)."""

from __future__ import annotations

import pytest

from labelwise.config import PipelineError, load_pipeline
from labelwise.loop._pipeline import _preflight


def _pipeline(tmp_path, data: str):
    f = tmp_path / "p.yaml"
    f.write_text(
        "project: proj\nclasses: [a, b]\n"
        f"data: {data}\n"
        "features: {method: efficientnet_lite0}\n"
        "oracle: {type: file, folder: inbox}\n"
        "stopping: {label_budget: 10}\n"
        "outputs: {folder: out}\n"
    )
    return load_pipeline(f)


def test_efficientnet_lite0_fits_an_image_folder(tmp_path):
    (tmp_path / "imgs").mkdir()
    cfg = _pipeline(tmp_path, "{path: imgs}")
    assert cfg.features.method == "efficientnet_lite0"
    assert _preflight(cfg) == {}
    assert not (tmp_path / "proj").exists()


def test_efficientnet_lite0_on_a_table_names_the_methods_that_fit(tmp_path):
    (tmp_path / "t.csv").write_text("id,x\nr1,1\nr2,2\n")
    cfg = _pipeline(tmp_path, "{path: t.csv, id_column: id}")
    with pytest.raises(PipelineError) as e:
        _preflight(cfg)
    msg = str(e.value)
    assert "features.method = 'efficientnet_lite0' does not fit t.csv" in msg
    assert "table rows; use auto or tabular" in msg
