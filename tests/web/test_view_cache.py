"""The web views' in-process cache never hands one project's result to another."""

from labelwise.store import Project
from labelwise.web._views import _label_state


def test_two_projects_with_equal_label_counts_have_different_cache_keys(tmp_path):
    # the cache is one dict per process: a key of label counts alone made two fresh
    # projects (0 labels each) share the dashboard's baseline and label issues
    a = Project.init(tmp_path / "a", classes=["x", "y"])
    b = Project.init(tmp_path / "b", classes=["x", "y"])
    assert _label_state(a) != _label_state(b)


def test_the_key_changes_when_the_evaluation_set_grows(tmp_path):
    from labelwise.io._samples import import_pool
    from labelwise.loop._evalset import draw_eval_set

    p = Project.init(tmp_path / "p", classes=["x", "y"])
    (tmp_path / "s.csv").write_text("id,f\n" + "".join(f"s{i},{i}\n" for i in range(20)))
    import_pool(p, tmp_path / "s.csv", id_column="id")
    before = _label_state(p)
    draw_eval_set(p, 5, seed=0)
    assert _label_state(p) != before
