"""select --engine local, strategy auto at batch >= 50: cluster-margin as on one matrix."""

import json

import numpy as np
import pytest
from _project_pool import build_project, copy_to
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.errors import InvalidInputError
from labelwise.loop import _sharded
from labelwise.loop._project import select_batch
from labelwise.loop._sharded import select_sharded
from labelwise.strategies import _cluster_margin


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_project(tmp_path_factory.mktemp("auto-sharded"), n=1_500)


@pytest.mark.parametrize("cluster_rows", [10_000, 600])  # the whole pool; a 600-row sample
def test_sharded_auto_batch_60_equals_plain_select_under_a_seed(
    base, tmp_path, monkeypatch, cluster_rows
):
    import labelwise.embed._shards as shards_mod

    monkeypatch.setattr(_cluster_margin, "CLUSTER_ROWS", cluster_rows)
    plain = copy_to(base, tmp_path / "plain")
    sharded = copy_to(base, tmp_path / "sharded", shards=4)

    def whole(*a, **k):
        raise AssertionError("the sharded select read the whole feature matrix")

    try:
        want = select_batch(plain, strategy="auto", batch_size=60, force=True, random_state=7)
        margin_top = [r["id"] for r in sorted(want.rows, key=lambda r: -r["score"])]
        monkeypatch.setattr(shards_mod, "read_sharded", whole)
        got = select_sharded(
            sharded,
            engine="local",
            strategy="auto",
            batch_size=60,
            force=True,
            random_state=7,
            rows_per_batch=500,
        )
        assert [r["id"] for r in got.rows] == [r["id"] for r in want.rows]  # ids and order
        assert got.rows == want.rows  # scores, reasons ("auto/cluster_margin ...; top x%")
        assert all(r["reason"].startswith("auto/cluster_margin") for r in got.rows)
        # not margin's top-60 in score order: the clusters reordered (and changed) the batch
        assert [r["id"] for r in got.rows] != margin_top
    finally:
        plain.close()
        sharded.close()


def test_cli_seed_reaches_the_sharded_auto(base, tmp_path):
    plain = copy_to(base, tmp_path / "plain")
    sharded = copy_to(base, tmp_path / "sharded", shards=3)
    sharded.close()
    try:
        want = select_batch(plain, strategy="auto", batch_size=55, force=True, random_state=3)
    finally:
        plain.close()
    args = ["select", str(tmp_path / "sharded"), "--engine", "local", "--strategy", "auto"]
    args += ["--batch", "55", "--seed", "3", "--force", "--json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["strategy"] == "auto"
    assert [row["id"] for row in got["batch"]] == [row["id"] for row in want.rows]


def test_auto_with_a_networks_own_gradients_is_refused_in_one_line(base, tmp_path, monkeypatch):
    sharded = copy_to(base, tmp_path / "sharded", shards=2)
    monkeypatch.setattr(_sharded, "model_method", lambda model, name: lambda X: np.asarray(X))
    try:
        with pytest.raises(InvalidInputError, match="BADGE") as e:
            select_sharded(sharded, engine="local", strategy="auto", batch_size=50, force=True)
        assert "\n" not in str(e.value) and "--batch under 50" in str(e.value)
        # under 50 it is margin, with or without the network's gradients
        r = select_sharded(sharded, engine="local", strategy="auto", batch_size=49, force=True)
        assert len(r.rows) == 49
    finally:
        sharded.close()
