"""select --engine ray on a project's sharded features gives the plain select's picks.

The module's Ray cluster is the ``ray_cluster`` fixture of conftest.py.
"""

import pytest
from _project_pool import build_project, copy_to

from labelwise.loop._project import select_batch
from labelwise.loop._sharded import select_sharded

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_project(tmp_path_factory.mktemp("sharded-ray"))


@pytest.mark.parametrize("name", ["margin", "entropy", "least_confidence"])
def test_ray_engine_on_shards_equals_plain_select(ray_cluster, base, tmp_path, name):
    plain = copy_to(base, tmp_path / "plain")
    sharded = copy_to(base, tmp_path / "sharded", shards=4)
    try:
        want = select_batch(plain, strategy=name, batch_size=30, force=True)
        got = select_sharded(
            sharded, engine="ray", strategy=name, batch_size=30, force=True, rows_per_batch=400
        )
        assert [r["id"] for r in got.rows] == [r["id"] for r in want.rows]
        assert got.rows == want.rows
    finally:
        plain.close()
        sharded.close()


def test_ray_k_center_equals_local(ray_cluster, base, tmp_path):
    a = copy_to(base, tmp_path / "a", shards=3)
    b = copy_to(base, tmp_path / "b", shards=3)
    try:
        kw = dict(strategy="k_center_greedy", batch_size=12, force=True)
        local = select_sharded(a, engine="local", **kw)
        remote = select_sharded(b, engine="ray", **kw)
        assert remote.rows == local.rows
    finally:
        a.close()
        b.close()


def test_ray_auto_batch_60_equals_plain_select_under_a_seed(ray_cluster, base, tmp_path):
    plain = copy_to(base, tmp_path / "plain")
    sharded = copy_to(base, tmp_path / "sharded", shards=4)
    try:
        want = select_batch(plain, strategy="auto", batch_size=60, force=True, random_state=11)
        got = select_sharded(
            sharded,
            engine="ray",
            strategy="auto",
            batch_size=60,
            force=True,
            random_state=11,
            rows_per_batch=400,
        )
        assert [r["id"] for r in got.rows] == [r["id"] for r in want.rows]  # ids and order
        assert got.rows == want.rows
        assert got.rows[0]["reason"].startswith("auto/cluster_margin")
    finally:
        plain.close()
        sharded.close()
