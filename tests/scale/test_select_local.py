"""select --engine local on sharded features: the plain select's picks, shard by shard."""

import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _project_pool import build_project, copy_to
from _shard_pool import reference_top_k
from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.errors import InvalidInputError
from labelwise.loop._project import select_batch
from labelwise.loop._sharded import select_sharded
from labelwise.scale import _select
from labelwise.scale._select import top_k_candidates
from labelwise.scale._shards import open_shards
from labelwise.store._models import SelectionRow
from labelwise.strategies import UNCERTAINTY_SCORERS


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_project(tmp_path_factory.mktemp("sharded"))


def _stored(p):
    """Every queue row: sample, score, scores, normalized rank and reason, in order."""
    with p.session() as s:
        rows = s.scalars(select(SelectionRow).order_by(SelectionRow.id)).all()
        return [(r.sample_id, r.score, r.scores, r.normalized, r.reason) for r in rows]


@pytest.mark.parametrize("name", ["margin", "entropy", "least_confidence"])
def test_local_engine_on_shards_equals_plain_select(base, tmp_path, name):
    plain = copy_to(base, tmp_path / "plain")
    sharded = copy_to(base, tmp_path / "sharded", shards=4)
    try:
        want = select_batch(plain, strategy=name, batch_size=40, force=True)
        got = select_sharded(sharded, engine="local", strategy=name, batch_size=40, force=True)
        assert [r["id"] for r in got.rows] == [r["id"] for r in want.rows]  # ids and order
        assert got.rows == want.rows  # scores, reasons ("top x%"), round, model version
        assert _stored(sharded) == _stored(plain)  # the queue rows, normalized ranks too
        rows = _stored(sharded)  # round 1 (10 queued picks), then this round's 40
        assert len(rows) == 50 and not {r[0] for r in rows[:10]} & {r[0] for r in rows[10:]}
    finally:
        plain.close()
        sharded.close()


def test_auto_under_50_is_margin_as_in_plain_select_and_other_strategies_are_refused(
    base, tmp_path
):
    plain = copy_to(base, tmp_path / "plain")
    sharded = copy_to(base, tmp_path / "sharded", shards=3)
    try:
        want = select_batch(plain, strategy="auto", batch_size=12, force=True)
        got = select_sharded(sharded, engine="local", strategy="auto", batch_size=12, force=True)
        assert got.rows == want.rows
        assert got.rows[0]["reason"].startswith("auto/margin")
        with pytest.raises(InvalidInputError, match="does not run on sharded features"):
            select_sharded(sharded, engine="local", strategy="typicality", force=True)
    finally:
        plain.close()
        sharded.close()


def test_k_center_on_shards_counts_labeled_rows_as_centres(base, tmp_path):
    from labelwise.embed import load_features
    from labelwise.strategies._neighbors import nearest_distance

    p = copy_to(base, tmp_path / "sharded", shards=5)
    try:
        r = select_sharded(p, engine="local", strategy="k_center_greedy", batch_size=15, force=True)
        X, ids, _ = load_features(p)
        labeled = np.isin(ids, np.fromiter(p.current_labels(), dtype=np.int64))
        uid_to_pos = {u: i for i, u in enumerate(p.sample_ids()[1].tolist())}
        picked = np.array([uid_to_pos[row["id"]] for row in r.rows])
        # each pick's score is its distance to the labeled rows and the picks before it
        for t, pos in enumerate(picked):
            centres = np.concatenate([X[labeled], X[picked[:t]]])
            want = nearest_distance(X[pos : pos + 1].astype(np.float64), centres)[0]
            assert r.rows[t]["score"] == pytest.approx(want, rel=1e-5)
        assert not labeled[picked].any()
        assert r.strategy == "k_center_greedy" and r.rows[0]["model_version"] == 1
    finally:
        p.close()


def test_rank_counts_with_ties_match_a_brute_force_count(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    n, k = 6_000, 25
    ids = rng.permutation(n).astype(np.int64) * 3 + 1
    X = rng.normal(size=(n, 3)).astype(np.float32)
    for s, rows in enumerate(np.array_split(np.arange(n), 3)):
        cols = {"id": ids[rows], **{f"f_{j}": X[rows, j] for j in range(3)}}
        pq.write_table(pa.table(cols), tmp_path / f"part-{s}.parquet")

    class Coarse:  # probabilities on a grid of 1/8: many equal scores
        def predict_proba(self, Z):
            p = np.exp(np.asarray(Z, dtype=np.float64))
            p = np.round(p / p.sum(axis=1, keepdims=True) * 8) + 1
            return p / p.sum(axis=1, keepdims=True)

    monkeypatch.setattr(_select, "_PRUNE_AT", 0)  # prune after every part
    exclude = ids[::7]
    r = top_k_candidates(
        open_shards(tmp_path),
        strategy="margin",
        k=k,
        model=Coarse(),
        exclude=exclude,
        rows_per_batch=500,
    )
    cand = ~np.isin(ids, exclude)
    scores = UNCERTAINTY_SCORERS["margin"](Coarse().predict_proba(X[cand]))
    want_ids, want_scores = reference_top_k(ids[cand], scores, k)
    np.testing.assert_array_equal(r.ids, want_ids)
    np.testing.assert_array_equal(r.scores, want_scores)
    assert np.unique(want_scores).size < k  # ties at the boundary
    np.testing.assert_array_equal(r.below, [(scores < s).sum() for s in want_scores])
    assert r.n_candidates == cand.sum()


def test_the_driver_reads_one_batch_of_one_shard_at_a_time(base, tmp_path, monkeypatch):
    import labelwise.embed._shards as shards_mod
    import labelwise.scale._engine as engine

    p = copy_to(base, tmp_path / "sharded", shards=6)
    read = engine.read_batches
    held = []

    def counting(path, columns, batch_size):
        for batch in read(path, columns, batch_size):
            held.append((path, len(batch["id"])))
            yield batch

    def whole(*a, **k):
        raise AssertionError("the sharded select read the whole feature matrix")

    monkeypatch.setattr(engine, "read_batches", counting)
    monkeypatch.setattr(shards_mod, "read_sharded", whole)
    try:
        select_sharded(
            p, engine="local", strategy="margin", batch_size=10, force=True, rows_per_batch=128
        )
    finally:
        p.close()
    paths = [h[0] for h in held]
    assert len(set(paths)) == 6 and paths == sorted(paths)  # shard after shard, each once
    assert sum(h[1] for h in held) == 3_000 and max(h[1] for h in held) <= 128


def test_cli_engine_ray_without_shards_and_without_ray_is_one_line(base, tmp_path, monkeypatch):
    from labelwise.errors import MissingRequirementError

    p = copy_to(base, tmp_path / "plain")
    p.close()
    args = ["select", str(tmp_path / "plain"), "--engine", "ray", "--force"]
    r = CliRunner().invoke(app, args)  # the CLI's main() prints a LabelwiseError as one line
    assert isinstance(r.exception, InvalidInputError)
    msg = str(r.exception)
    assert "embed" in msg and "--shards N" in msg and "\n" not in msg
    monkeypatch.setitem(sys.modules, "ray", None)  # as without the ray extra
    r = CliRunner().invoke(app, args)
    assert isinstance(r.exception, MissingRequirementError)
    assert 'pip install "labelwise[ray]"' in str(r.exception) and "\n" not in str(r.exception)
