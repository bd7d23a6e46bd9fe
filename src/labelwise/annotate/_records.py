"""The project's labels as the tables the quality functions read."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from labelwise.store import Project
from labelwise.store._models import Assignment, Gold, Label, Sample

__all__ = ["gold_answers", "label_records"]

# labels people gave (a withdrawn label was taken back by its author; it never counted)
_GIVEN = ("accepted", "overlap", "gold", "superseded", "rejected")


def label_records(project: Project) -> pd.DataFrame:
    """One row per label a person gave (imported labels without an annotator left out).

    Columns: sample, annotator, value, created_at, duration, round, gold, unsure.
    """
    with project.session() as s:
        rows = s.execute(
            select(
                Sample.uid,
                Label.annotator,
                Label.value,
                Label.created_at,
                Label.duration,
                Assignment.round,
                Assignment.kind,
                Label.unsure,
            )
            .join(Sample, Sample.id == Label.sample_id)
            .outerjoin(Assignment, Assignment.id == Label.assignment_id)
            .where(
                Label.status.in_(_GIVEN),
                Label.annotator.is_not(None),
                Label.annotator != "import",
            )
            .order_by(Label.id)
        ).all()
    df = pd.DataFrame(
        rows,
        columns=[
            "sample",
            "annotator",
            "value",
            "created_at",
            "duration",
            "round",
            "kind",
            "unsure",
        ],
    )
    df["gold"] = df["kind"].eq("gold")
    df["duration"] = pd.to_numeric(df["duration"], errors="coerce")
    df["round"] = pd.to_numeric(df["round"], errors="coerce")
    df["unsure"] = df["unsure"].fillna(False).astype(bool)
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    return df.drop(columns="kind")


def gold_answers(project: Project) -> dict[str, str]:
    """Gold sample uid -> its known answer."""
    with project.session() as s:
        return dict(
            s.execute(
                select(Sample.uid, Gold.value).join(Sample, Sample.id == Gold.sample_id)
            ).all()
        )
