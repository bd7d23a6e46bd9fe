"""The README's pipeline file, run for real on the SMS Spam Collection it points to.

It must use a random evaluation set and stop where the true curve levels off: after the
stop, the accuracy on the rows still unlabeled rises by less than one point per 100 labels.
"""

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from labelwise.config import load_pipeline
from labelwise.loop._pipeline import run_pipeline
from labelwise.loop._predict import predict
from labelwise.store import Project

README = (Path(__file__).parents[2] / "README.md").read_text()
SMS = Path(__file__).parents[3] / "shared" / "data" / "sms_spam" / "SMSSpamCollection.tsv"


def readme_pipeline() -> str:
    start = README.index("### The whole loop in one file")
    return re.search(r"```yaml\n(.*?)```", README[start:], flags=re.S).group(1)


def test_the_readme_pipeline_has_a_random_evaluation_set():
    cfg = yaml.safe_load(readme_pipeline())
    assert cfg["evaluation"]["size"] >= 100 and "random_share" in cfg
    assert "diminishing_returns" in cfg["stopping"]


@pytest.mark.slow
def test_the_readme_pipeline_stops_where_the_true_curve_levels_off(tmp_path):
    if not SMS.exists():
        pytest.fail(f"{SMS} is missing: the shared data folder (see shared/data/README.md)")
    df = pd.read_csv(SMS, sep="\t", quoting=3).rename(columns={"Label": "label", "SMS": "text"})
    df.insert(0, "id", [f"sms-{i}" for i in range(len(df))])
    df.to_csv(tmp_path / "sms.csv", index=False)
    truth = dict(zip(df["id"], df["label"], strict=True))
    text = readme_pipeline()
    (tmp_path / "pipeline.yaml").write_text(text)
    st = run_pipeline(load_pipeline(tmp_path / "pipeline.yaml"), echo=lambda m: None)
    assert "includes zero" in st["stopped_by"]  # the plateau rule, on the evaluation set
    stop = st["rounds"][-1]["n_labeled"]
    # the same run with only a budget, 200 labels further: the true curve after the stop
    longer = re.sub(r"stopping: \{.*\}", f"stopping: {{label_budget: {stop + 200}}}", text)
    (tmp_path / "longer.yaml").write_text(longer.replace("sms-project", "longer"))
    st2 = run_pipeline(load_pipeline(tmp_path / "longer.yaml"), echo=lambda m: None)
    p = Project.open(tmp_path / "longer")
    true = {}
    for r in st2["rounds"]:
        out = predict(p, tmp_path / "pred.csv", model_version=r["trained_version"]).path
        pred = pd.read_csv(out)
        pool = pred[pred["split"] == "pool"]
        true[r["n_labeled"]] = float((pool["predicted"] == pool["id"].map(truth)).mean())
    after = max(v for n, v in true.items() if n > stop)
    assert (after - true[stop]) * 100 / 2 < 1.0  # < 1 point per 100 labels over 200 labels
