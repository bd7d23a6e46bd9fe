"""Production commands: stream (select from a stream on a budget) and feedback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from labelwise.cli._app import app, err, out, usage_error
from labelwise.store import Project

DIR_ARG = typer.Argument(..., help="The project folder.")


@app.command("stream")
def stream_cmd(
    project: Path = DIR_ARG,
    budget: float = typer.Option(
        0.05,
        "--budget",
        help="Share of the stream to ask for, in (0, 1]: every window of W samples holds at "
        "most ceil(budget * W) asks.",
    ),
    strategy: str = typer.Option(
        "margin",
        "--strategy",
        help="least_confidence, margin, ratio, entropy, variance or random.",
    ),
    manager: str = typer.Option(
        "variable_uncertainty",
        "--manager",
        help="Budget manager: fixed, variable_uncertainty, split or balanced_incoming.",
    ),
    seed: int = typer.Option(None, "--seed", help="Random seed (split, random)."),
) -> None:
    """Read samples from stdin, one JSON object per line; print the id of each one to label.

    Each line holds 'id' and the sample as the project's import had it: the table's
    columns, 'text' for texts, 'path' for images. It is embedded like the project's
    features and scored by the latest model; the ids asked for are printed one per
    line as they come, stored as new samples and queued for labeling in one round
    per run. A bad line stops the run naming its line; what was asked before it
    stays queued. The budget's state is kept in the project, so it holds across runs.

    Example: [cyan]tail -f events.jsonl | labelwise stream tickets --budget 0.05[/]
    """
    from labelwise.annotate import enqueue
    from labelwise.loop._stream import stream_project

    p = Project.open(project)

    def asked(uid: str) -> None:
        sys.stdout.write(uid + "\n")
        sys.stdout.flush()

    try:
        r = stream_project(
            p,
            sys.stdin,
            budget=budget,
            strategy=strategy,
            manager=manager,
            random_state=seed,
            on_ask=asked,
        )
    finally:
        enqueue(p)  # what was asked goes to the labeling queue, also after a bad line
    where = f"round {r.round}" if r.round is not None else "no round"
    err.print(
        f"asked {r.n_asked} of {r.n_seen} sample(s) (budget {budget:g}, {manager}); queued "
        f"in {where}. Run 'labelwise embed {project}' before the next train.",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@app.command("feedback")
def feedback_cmd(
    project: Path = DIR_ARG,
    file: Path = typer.Argument(
        ...,
        help="CSV, JSONL or Parquet: id, predicted, optional label (the correct one), "
        "annotator, and the sample's content for ids the project does not have.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Record production predictions that users rejected; all rows or none.

    With a correct label the row counts as a label (source feedback:FILE, the rejected
    prediction in its comment); without one the sample goes to the front of the
    labeling queue. Unknown ids are imported when the row carries the sample's
    content (the table's columns, 'text' or 'path'), else named with their line.

    Example: [cyan]labelwise feedback tickets rejected.csv[/]
    """
    from labelwise.loop._feedback import record_feedback

    if not file.exists():
        raise usage_error(f"{file} not found; give a CSV, JSONL or Parquet feedback file.")
    r = record_feedback(Project.open(project), file)
    if as_json:
        typer.echo(json.dumps(r.__dict__))
        return
    out.print(
        f"feedback: {r.rows} row(s); labels {r.labels_new} new, {r.labels_changed} changed, "
        f"{r.labels_unchanged} unchanged; {r.queued + r.already_queued} at the front of the "
        f"queue; {r.new_samples} new sample(s)",
        highlight=False,
    )
