"""/issues uses the project's own model and its out-of-fold probabilities: the page flags
exactly what cleanlab flags on those probabilities, and shows them as its confidences.

The probabilities are recomputed here the long way (sklearn folds, a clone of the model
file's estimator, cleanlab called directly), not through labelwise's helpers.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from webutil import login

from labelwise.annotate import add_user
from labelwise.embed import compute_features, load_features
from labelwise.io._samples import import_pool
from labelwise.loop._project import train
from labelwise.store import Project
from labelwise.store._models import Label, Sample

VOCAB = {
    "billing": "invoice charge refund payment card billed twice price receipt".split(),
    "login": "password login account locked reset username sign email code".split(),
    "shipping": "parcel delivery courier late tracking address shipped box arrived".split(),
}
FILLER = (
    "please help thanks hello today still my the order again why is it not working "
    "yesterday week month customer service need urgent problem issue question answer "
    "reply asap sorry confused app website phone"
).split()


@pytest.fixture()
def text_app(tmp_path):
    """Support tickets: one topic word among eight filler words; 30 correct labels."""
    from labelwise.web import create_app

    rng = np.random.default_rng(1)
    names = sorted(VOCAB)

    def ticket(c):
        return " ".join([*rng.choice(VOCAB[c], 1), *rng.choice(FILLER, 8)])

    labeled = pd.DataFrame(
        {"id": [f"t{i}" for i in range(30)], "label": [names[i % 3] for i in range(30)]}
    )
    labeled["text"] = [ticket(c) for c in labeled["label"]]
    pool = pd.DataFrame({"id": [f"u{i}" for i in range(60)]})
    pool["text"] = [ticket(names[i % 3]) for i in range(60)]
    labeled.to_csv(tmp_path / "labeled.csv", index=False)
    pool.to_csv(tmp_path / "pool.csv", index=False)
    p = Project.init(tmp_path / "tickets", classes=names)
    import_pool(p, tmp_path / "labeled.csv", id_column="id", text_column="text", target="label")
    import_pool(p, tmp_path / "pool.csv", id_column="id", text_column="text")
    compute_features(p)
    train(p)  # the project's model: logistic regression on the TF-IDF features
    add_user(p, "rev", "rev-pass-1", "reviewer")
    yield create_app(p), p
    p.close()


def out_of_fold_by_hand(p):
    """(uids, given label index, class names, proba) with the model file's estimator."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    X, ids, _ = load_features(p)
    with p.session() as s:
        rows = s.execute(
            select(Sample.uid, Label.sample_id, Label.value)
            .join(Sample, Sample.id == Label.sample_id)
            .where(Label.status == "accepted")
            .order_by(Label.id)
        ).all()
    pos = {int(v): i for i, v in enumerate(ids)}
    X = X[[pos[r.sample_id] for r in rows]]
    names = sorted({r.value for r in rows})
    y = np.array([names.index(r.value) for r in rows])
    art = p.latest_artifact("model")
    with open(p.artifact_path(art), "rb") as fh:
        estimator = pickle.load(fh).estimator
    proba = np.zeros((len(y), len(names)))
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        proba[te] = clone(estimator).fit(X[tr], y[tr]).predict_proba(X[te])
    return [r.uid for r in rows], y, names, proba


def test_the_page_flags_what_cleanlab_flags_on_the_models_out_of_fold_probabilities(text_app):
    from cleanlab.filter import find_label_issues

    app, p = text_app
    uids, y, names, proba = out_of_fold_by_hand(p)
    flagged = find_label_issues(y, proba)  # cleanlab's defaults: prune by noise rate
    expected = {uids[i] for i in np.flatnonzero(flagged)}

    out = login(app, "rev", "rev-pass-1").get("/api/issues").json()
    assert out["n_labels"] == 30 and out["model"]["version"] == 1
    assert {i["uid"] for i in out["issues"]} == expected
    for issue in out["issues"]:
        i = uids.index(issue["uid"])
        assert issue["given"] == names[y[i]]
        assert issue["suggested"] == names[int(proba[i].argmax())]
        assert issue["confidence"] == pytest.approx(
            proba[i].max(), abs=1e-6
        )  # lbfgs: BLAS threads change the last digits
        assert issue["quality"] == pytest.approx(
            proba[i, y[i]], abs=1e-6
        )  # lbfgs: BLAS threads change the last digits
    # soft probabilities, as on the label page (the scaled model said 69-95 % here)
    assert max(proba.max(axis=1)) < 0.6
    # and the HTML page shows the same samples
    page = login(app, "rev", "rev-pass-1").get("/issues").text
    assert all(u in page for u in expected)


def test_a_newer_model_is_used_at_once(text_app):
    app, p = text_app
    rev = login(app, "rev", "rev-pass-1")
    assert rev.get("/api/issues").json()["model"] == {"version": 1, "name": "logreg"}
    train(p, model="rf")
    assert rev.get("/api/issues").json()["model"] == {"version": 2, "name": "rf"}
