"""The pipeline with ``evaluation: {size}``: the oracle labels the set first; rules read it."""

import pytest

from labelwise.config import PipelineError, load_pipeline
from labelwise.loop._evalset import NO_EVAL_NOTE, eval_ids
from labelwise.loop._pipeline import run_pipeline
from labelwise.store import Project
from labelwise.store._models import Event, SelectionRow

BASE = """project: proj
classes: [malignant, benign]
data: {path: bc.csv, id_column: id, label_column: diagnosis}
model: {name: logreg}
strategy: {name: margin}
batch_size: 10
random_share: 0.2
evaluation: {size: 120}
stopping: {label_budget: 60, diminishing_returns: {k: 2, delta: 0.02}}
oracle: {type: simulated}
outputs: {folder: out}
"""


@pytest.fixture()
def folder(tmp_path, bc_csv):
    return tmp_path


def test_the_oracle_labels_the_evaluation_set_first(folder):
    (folder / "p.yaml").write_text(BASE)
    lines = []
    st = run_pipeline(load_pipeline(folder / "p.yaml"), echo=lines.append)
    p = Project.open(folder / "proj")
    reserved = eval_ids(p)
    labels = p.current_labels()
    assert len(reserved) == 120 and all(s in labels for s in reserved)
    with p.session() as s:
        kinds = [e.kind for e in s.query(Event).order_by(Event.id)]
        picked = set(
            s.scalars(SelectionRow.__table__.select().with_only_columns(SelectionRow.sample_id))
        )
    # the set was drawn and labeled before the first round was selected
    assert kinds.index("eval_set.draw") < kinds.index("round.select")
    assert kinds.index("labels.import") < kinds.index("round.select")
    assert not picked & reserved
    assert (folder / "out" / "labels-eval-set.csv").exists()
    # every round's metric is on the evaluation set; the random arm took its share
    assert all(r["n_eval"] == 120 and r["metric_ci"] for r in st["rounds"])
    with p.session() as s:
        arms = s.scalars(
            SelectionRow.__table__.select()
            .with_only_columns(SelectionRow.strategy)
            .where(SelectionRow.strategy == "random_arm")
        ).all()
    assert len(arms) == 2 * len(st["rounds"])  # 20 % of each batch of 10
    # the budget counts the labels the loop selected, not the evaluation labels
    reason = st["stopped_by"]
    assert "label budget reached: 60 of 60" in reason or "includes zero" in reason
    assert any("evaluation accuracy" in line for line in lines)


def test_without_an_evaluation_set_only_budget_rules_stop(folder):
    text = BASE.replace("evaluation: {size: 120}\n", "").replace(
        "label_budget: 60", "label_budget: 40"
    )
    (folder / "p.yaml").write_text(text)
    lines = []
    st = run_pipeline(load_pipeline(folder / "p.yaml"), echo=lines.append)
    assert st["stopped_by"] == "label budget reached: 40 of 40 labels"
    assert any(NO_EVAL_NOTE in line for line in lines)
    assert all(r["metric"] is None for r in st["rounds"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("evaluation: {size: 120}", "evaluation: {size: 0}"), "evaluation.size"),
        (
            ("evaluation: {size: 120}", "evaluation: {size: 5, sise: 5}"),
            "unknown key 'evaluation.sise'",
        ),
        (("random_share: 0.2", "random_share: 2"), "random_share"),
    ],
)
def test_evaluation_keys_are_validated(folder, change, message):
    (folder / "p.yaml").write_text(BASE.replace(*change))
    with pytest.raises(PipelineError, match=message.replace(".", r"\.")):
        load_pipeline(folder / "p.yaml")
