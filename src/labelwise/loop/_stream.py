"""``labelwise stream``: select from a stream of samples, one line at a time, on a budget.

Each line is one JSON object: ``id`` and the sample's content as the project's import
had it (the table's columns; ``text`` for a text project; ``path`` for images). It is
checked in full, embedded the way the project's features were made
(:func:`labelwise.embed.feature_transform`), scored by the latest model and handed to a
:class:`~labelwise.stream.StreamSelector`. A sample it asks for is stored in one
transaction: the sample (``meta.source = "stream"``), its pick in this run's round (with
score and reason) and the selector's state. A bad line stops the run with its line
number; what was asked before it stays stored, the bad line writes nothing.

The selector's state (budget credit, manager threshold) is kept in the project, so the
budget guarantee holds across runs with the same settings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from labelwise._validation import check_id, text_problem
from labelwise.errors import DataFileError, InvalidInputError, shorten
from labelwise.store import Project, advisory_lock, transaction
from labelwise.store._models import Event, ProjectRow, Round, Sample, SelectionRow
from labelwise.store._project import ids_of

__all__ = ["StreamResult", "stream_project", "parse_record"]

_STATE_KEY = "stream"


@dataclass
class StreamResult:
    """What a stream run did."""

    n_seen: int = 0
    n_asked: int = 0
    round: int | None = None
    asked: list[str] = field(default_factory=list)
    resumed: bool = False


def parse_record(obj, where: str, fieldname: str, columns: list[str] | None) -> dict:
    """One stream/feedback line as a sample record (``uid`` + ``data``/``text``/``uri``).

    ``fieldname``: what the project's samples carry (``data``, ``text`` or ``uri``);
    ``columns``: a table project's columns. Errors name ``where`` and the key at fault.
    """
    if not isinstance(obj, dict):
        raise DataFileError(f"{where}: not a JSON object; give one object per line.")
    if obj.get("id") is None:
        raise DataFileError(f"{where}: no 'id'; every sample needs one.")
    uid = check_id(obj["id"], where=where, error=DataFileError)
    rec: dict = {"uid": uid}
    rest = {k: v for k, v in obj.items() if k != "id"}
    if fieldname == "data":
        missing = [c for c in columns if c not in rest]
        extra = [k for k in rest if k not in columns]
        if missing or extra:
            parts = [f"missing {shorten(missing, 200)}"] if missing else []
            parts += [f"unknown {shorten(extra, 200)}"] if extra else []
            raise DataFileError(
                f"{where}: {' and '.join(parts)}; the project's columns are "
                f"{shorten(columns, 300)}."
            )
        data = {}
        for c in columns:
            v = rest[c]
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise DataFileError(
                    f"{where}: column {shorten(c)} = {shorten(v)} is not a finite number."
                )
            data[c] = float(v)
        rec["data"] = data
    elif fieldname == "text":
        t = rest.pop("text", None)
        if not isinstance(t, str) or not t.strip():
            raise DataFileError(f"{where}: 'text' is missing or empty; the project holds texts.")
        why = text_problem(t)
        if why:
            raise DataFileError(f"{where}: the text {why}.")
        rec["text"] = t
        rec["meta"] = rest or None
    else:
        p = rest.pop("path", None)
        if not isinstance(p, str) or not Path(p).is_file():
            raise DataFileError(
                f"{where}: 'path' {shorten(p)} is not an image file; the project holds images."
            )
        rec["uri"] = str(Path(p).resolve())
        rec["meta"] = rest or None
    return rec


def project_content(project: Project) -> tuple[str, list[str] | None]:
    """What the project's samples carry (``data``, ``text`` or ``uri``) and a table's columns."""
    with project.session() as s:
        first = s.execute(
            select(Sample.text, Sample.data, Sample.uri).order_by(Sample.id).limit(1)
        ).first()
    if first is None:
        raise InvalidInputError("the project has no samples; run 'labelwise import' first.")
    if first.data is not None:
        return "data", list(first.data)
    return ("text", None) if first.text is not None else ("uri", None)


def stream_project(
    project: Project,
    lines: Iterable[str],
    *,
    budget: float = 0.05,
    strategy: str = "margin",
    manager: str = "variable_uncertainty",
    burst: int = 1,
    random_state=None,
    source: str = "stdin",
    on_ask: Callable[[str], None] | None = None,
) -> StreamResult:
    """Read a stream of JSON lines, ask for some within ``budget``, store what is asked.

    ``on_ask(id)`` runs after each asked sample is stored (the CLI prints the id).
    """
    from labelwise.embed import feature_transform
    from labelwise.loop._evalset import training_labels
    from labelwise.loop._project import _load_model
    from labelwise.stream import StreamSelector

    selector = StreamSelector(
        strategy, budget, manager, burst=burst, random_state=random_state
    )  # bad settings are refused before anything is read
    model, art = _load_model(project)
    if model is None:
        raise InvalidInputError(
            f"{project.path} has no trained model yet; run 'labelwise train' first: the stream "
            "scores each sample with it."
        )
    transform = feature_transform(project)
    if art.info.get("features_version") not in (None, transform.version):
        raise InvalidInputError(
            f"model v{art.version} was trained on features v{art.info['features_version']}, "
            f"but the project's features are now v{transform.version}; run 'labelwise train'."
        )
    if art.info.get("classes") not in (None, project.classes()):
        raise InvalidInputError("the classes changed since the model was trained; run train.")
    selector.model_ = model
    result = StreamResult()
    result.resumed = selector.set_state((project.info.settings or {}).get(_STATE_KEY))
    n_labeled = len(training_labels(project))
    seen: dict[str, int] = {}
    rnd_id = batch_no = None
    try:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{source}, line {n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFileError(f"{where}: not valid JSON ({e.msg}).") from None
            rec = parse_record(obj, where, transform.field, transform.columns)
            uid = rec["uid"]
            if uid in seen:
                raise DataFileError(
                    f"{where}: duplicate id {shorten(uid)} (first at line {seen[uid]})."
                )
            seen[uid] = n
            with project.session() as s:
                if ids_of(s, [uid]):
                    raise DataFileError(
                        f"{where}: sample id {shorten(uid)} is already in the project."
                    )
            x = transform.transform([rec])[0]
            if not selector.ask(x):
                continue
            rnd_id, batch_no, number = _store_ask(
                project, rec, selector, art.version, n_labeled, rnd_id, batch_no, source, n
            )
            result.round = number
            result.asked.append(uid)
            if on_ask is not None:
                on_ask(uid)
    finally:
        result.n_seen, result.n_asked = len(seen), len(result.asked)
        _save_state(project, selector)
    return result


def _reason(selector, n_line: int) -> str:
    return (
        f"{selector.strategy} {selector.last_utility_:.3f}; asked by the {selector.manager} "
        f"manager within budget {selector.budget:g} (stream line {n_line})"
    )


def _store_ask(project, rec, selector, model_version, n_labeled, rnd_id, batch_no, source, n):
    """Store one asked sample, its pick and the selector's state in one transaction.

    The sample goes in through :func:`labelwise.io._samples.add_samples`, the import's
    own checks and insert, within the same transaction as its pick.
    """
    from labelwise.io._samples import add_samples, record_kind

    where = f"{source}, line {n}"
    meta = {**(rec.get("meta") or {}), "source": "stream", "stream": source, "line": n}
    rec = {**rec, "meta": meta}
    with transaction(project.session) as s:
        advisory_lock(s, "select")
        if rnd_id is None:
            number = (s.scalar(select(func.max(Round.number))) or 0) + 1
            rnd = Round(
                number=number,
                strategy=selector.strategy,
                model_version=model_version,
                batch_size=0,
                n_labeled=n_labeled,
                note=f"stream: {selector.manager} manager, budget {selector.budget:g}",
                info={
                    "stream": {
                        "manager": selector.manager,
                        "budget": selector.budget,
                        "source": source,
                    }
                },
            )
            s.add(rnd)
            s.flush()
            rnd_id = rnd.id
        rnd = s.get(Round, rnd_id)
        added = add_samples(s, where, record_kind(rec), [rec], lambda i: where, import_id=batch_no)
        batch_no = added.import_id  # one import batch per run
        u = float(selector.last_utility_)
        s.add(
            SelectionRow(
                round_id=rnd_id,
                sample_id=added.sample_ids[0],
                position=rnd.batch_size,
                strategy=selector.strategy,
                model_version=model_version,
                score=u,
                scores={selector.strategy: u},
                normalized={},
                reason=_reason(selector, n),
            )
        )
        rnd.batch_size += 1
        s.add(Event(kind="stream.ask", payload={"id": rec["uid"], "round": rnd.number}))
        _put_state(s, selector)
        number = rnd.number
    return rnd_id, batch_no, number


def _put_state(s, selector) -> None:
    row = s.scalars(select(ProjectRow)).one()
    row.settings = {**(row.settings or {}), _STATE_KEY: selector.get_state()}


def _save_state(project: Project, selector) -> None:
    with transaction(project.session) as s:
        _put_state(s, selector)
