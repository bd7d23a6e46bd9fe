"""'Train and select' while the last round is still being labeled: 409, nothing changed."""

from __future__ import annotations

from sqlalchemy import func, select

from labelwise.store._models import Artifact, Round


def _counts(p):
    with p.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Round)),
            s.scalar(select(func.count()).select_from(Artifact).where(Artifact.kind == "model")),
        )


def test_a_round_is_refused_while_the_last_one_is_unlabeled(web_project, as_user):
    p, _ = web_project  # round 1: 60 picks, none labeled yet
    boss = as_user("boss")
    before = _counts(p)
    r = boss.post("/api/rounds", json={"strategy": "random", "batch_size": 5, "train": False})
    assert r.status_code == 409
    assert r.json()["detail"] == (
        "round 1 has 60 unlabeled picks; label them or pass --force to open another round."
    )
    # with train on, the refusal comes first: no model is trained either
    r = boss.post("/api/rounds", json={"strategy": "random", "batch_size": 5})
    assert r.status_code == 409 and _counts(p) == before
    r = boss.post(
        "/api/rounds", json={"strategy": "random", "batch_size": 5, "train": False, "force": True}
    )
    assert r.status_code == 200, r.text
    assert r.json()["round"] == 2 and r.json()["selected"] == 5
