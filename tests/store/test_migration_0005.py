"""Migration 0005: label values become text, so an image's objects fit (both backends)."""

import json

from sqlalchemy import select, text
from sqlalchemy.orm import sessionmaker

from labelwise.store import transaction
from labelwise.store._db import _alembic_config, current_revision, make_engine, migrate
from labelwise.store._models import Gold, Label, Sample


def test_a_0004_database_upgrades_and_then_holds_long_object_labels(tmp_path, db):
    from alembic import command

    engine = make_engine(db() or f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:  # a project made before 0005: VARCHAR(200) values
        command.upgrade(_alembic_config(conn), "0004")
        conn.execute(text("insert into sample (uid, split, created_at) values "
                          "('a', 'pool', current_timestamp)"))  # fmt: skip
        conn.execute(
            text(
                "insert into label (sample_id, value, status, unsure, created_at) "
                "values (1, 'cat', 'accepted', false, current_timestamp)"
            )
        )
    migrate(engine)
    assert current_revision(engine) == "0005"
    objects = [{"bbox": [i, i, 10.25, 10.5], "class": "cat"} for i in range(40)]
    value = json.dumps({"height": 100, "objects": objects, "width": 100})
    assert len(value) > 1000
    with transaction(sessionmaker(engine)) as s:
        s.add(Sample(uid="b", split="pool"))
        s.flush()
        sid = s.scalar(select(Sample.id).where(Sample.uid == "b"))
        s.add(Label(sample_id=sid, value=value))
        s.add(Gold(sample_id=sid, value=value))
    with sessionmaker(engine)() as s:
        rows = s.execute(select(Sample.uid, Label.value).join(Sample).order_by(Label.id)).all()
        assert [tuple(r) for r in rows] == [("a", "cat"), ("b", value)]
        assert s.scalar(select(Gold.value)) == value
    engine.dispose()
