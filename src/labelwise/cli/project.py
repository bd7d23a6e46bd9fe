"""Project commands: init, import, embed, train, select, labels, status, history."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from labelwise.cli._app import app, out, progress_bar, usage_error
from labelwise.store import Project

DIR_ARG = typer.Argument(..., help="The project folder.")


def _open(path: Path) -> Project:
    return Project.open(path)


@app.command("init")
def init_cmd(
    project: Path = DIR_ARG,
    task: str = typer.Option(
        "classification",
        "--task",
        help="classification (for now the "
        "project loop trains classifiers), regression or multilabel.",
    ),
    classes: str = typer.Option("", "--classes", help="Comma list of class names."),
    db: str = typer.Option(
        None,
        "--db",
        help="Database URL, e.g. postgresql+psycopg://u:p@"
        "127.0.0.1/db (default: SQLite in the folder).",
    ),
) -> None:
    """Create a project folder with its database.

    Example: [cyan]labelwise init tickets --task classification --classes bug,feature,question[/]
    """
    p = Project.init(project, task=task, classes=classes.split(","), db=db)
    out.print(
        f"created project [bold]{project}[/] ({task}; classes: "
        f"{', '.join(p.classes()) or 'none yet: the first labels set them'})",
        highlight=False,
    )


@app.command("import")
def import_cmd(
    project: Path = DIR_ARG,
    source: Path = typer.Argument(..., help="CSV, Parquet or JSONL file, or a folder of images."),
    id_column: str = typer.Option(
        None,
        "--id-column",
        help="Column of stable sample ids (default: ids <file>-<row> are assigned).",
    ),
    text_column: str = typer.Option(None, "--text-column", help="Column holding the text."),
    target: str = typer.Option(None, "--target", help="Column of known labels to import too."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Add samples to the pool; all rows or none.

    Example: [cyan]labelwise import tickets tickets.csv --id-column id --text-column body[/]
    """
    from labelwise.io._samples import import_pool

    p = _open(project)
    with progress_bar(f"import {source.name}", enabled=not as_json) as (set_total, advance):
        r = import_pool(
            p,
            source,
            id_column=id_column,
            text_column=text_column,
            target=target,
            progress=advance,
            on_total=set_total,
        )
    if as_json:
        typer.echo(json.dumps(r.__dict__))
        return
    out.print(
        f"imported {r.n_samples} {r.kind} sample(s) and {r.n_labels} label(s) into {project}",
        highlight=False,
    )
    if r.ids_assigned:
        out.print(f"no --id-column: assigned ids like {', '.join(r.first_ids)}", highlight=False)


@app.command("embed")
def embed_cmd(
    project: Path = DIR_ARG,
    method: str = typer.Option(
        "auto",
        "--method",
        help="auto, tabular, tfidf, minilm (text "
        "extra; the default for text when installed) or pixels.",
    ),
) -> None:
    """Compute features for every sample (scaled columns, TF-IDF + SVD, or image pixels).

    Example: [cyan]labelwise embed tickets[/]
    """
    from labelwise.embed import compute_features

    p = _open(project)
    with progress_bar("embed", enabled=True) as (set_total, advance):
        art = compute_features(p, method=method, progress=advance)
    out.print(
        f"features v{art.version}: {art.info['n_samples']} x {art.info['dim']} "
        f"({art.info['method']}) -> {art.path}",
        highlight=False,
    )


@app.command("train")
def train_cmd(
    project: Path = DIR_ARG,
    model: str = typer.Option("logreg", "--model", help="logreg, svm, rf, knn or mlp."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Fit the model on every labeled sample and store it as a new version.

    Example: [cyan]labelwise train tickets --model logreg[/]
    """
    from labelwise.loop._project import train

    r = train(_open(project), model=model)
    if as_json:
        typer.echo(json.dumps(r))
        return
    m = "n/a (too few labels per class)" if r["metric"] is None else f"{r['metric']:.4f}"
    out.print(
        f"model v{r['version']} ({model}) on {r['n_labeled']} labels; cross-validated accuracy {m}",
        highlight=False,
    )


@app.command("select")
def select_cmd(
    project: Path = DIR_ARG,
    strategy: str = typer.Option(
        "margin", "--strategy", help="A strategy name ('labelwise strategies' lists them)."
    ),
    batch: int = typer.Option(50, "--batch", help="How many samples to select."),
    out_file: Path = typer.Option(None, "--out", help="Write the batch to this CSV or JSONL."),
    seed: int = typer.Option(None, "--seed", help="Random seed (ties, random strategies)."),
    again: int = typer.Option(
        None,
        "--round",
        help="Select nothing: write stored round N to "
        "--out again (e.g. after a crash lost the file).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the batch as JSON."),
) -> None:
    """Select the next batch to label and store it with each pick's scores and reason.

    Example: [cyan]labelwise select tickets --strategy margin --batch 50 --out batch.csv[/]
    """
    from labelwise.loop._project import export_round, select_batch

    if again is not None:
        if out_file is None:
            raise usage_error("--round needs --out FILE to write the stored batch to.")
        path = export_round(_open(project), again, out_file)
        out.print(f"wrote round {again} to {path}", highlight=False)
        return
    if batch < 1:
        raise usage_error(f"--batch must be at least 1, got {batch}.")
    r = select_batch(
        _open(project), strategy=strategy, batch_size=batch, out=out_file, random_state=seed
    )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "round": r.round,
                    "strategy": r.strategy,
                    "cold_start": r.cold_start,
                    "batch": r.rows,
                }
            )
        )
        return
    if r.cold_start:
        out.print(
            f"no trained model yet: cold-start diversity selection (k_center_greedy) "
            f"instead of {strategy}",
            highlight=False,
        )
    t = Table(title=f"round {r.round}: {len(r.rows)} sample(s) by {r.strategy}")
    for c in ("#", "id", "score", "reason"):
        t.add_column(c)
    for row in r.rows[:20]:
        sc = "" if row["score"] is None else f"{row['score']:.4g}"
        t.add_row(str(row["position"] + 1), str(row["id"]), sc, row["reason"])
    out.print(t)
    if len(r.rows) > 20:
        out.print(f"... and {len(r.rows) - 20} more", highlight=False)
    if r.out:
        out.print(f"wrote {r.out}", highlight=False)


@app.command("labels")
def labels_cmd(
    project: Path = DIR_ARG,
    action: str = typer.Argument(..., help="import or export"),
    file: Path = typer.Argument(..., help="CSV with columns id,label (+ annotator, duration)."),
    annotator: str = typer.Option(
        None, "--annotator", help="Who labeled (when the file has no annotator column)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Import labels from a CSV (atomic; re-importing the same file changes nothing) or export them.

    Example: [cyan]labelwise labels tickets import labeled.csv[/]
    """
    from labelwise.io._labels import export_labels, import_labels

    p = _open(project)
    if action == "import":
        r = import_labels(p, file, annotator=annotator)
        if as_json:
            typer.echo(json.dumps(r.__dict__))
        else:
            out.print(
                f"labels: {r.new} new, {r.changed} changed, {r.unchanged} unchanged",
                highlight=False,
            )
    elif action == "export":
        n = export_labels(p, file)
        if as_json:
            typer.echo(json.dumps({"exported": n, "file": str(file)}))
        else:
            out.print(f"exported {n} label(s) to {file}", highlight=False)
    else:
        raise usage_error(f"labels action must be 'import' or 'export', got {action!r}.")


@app.command("status")
def status_cmd(
    project: Path = DIR_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Where the project stands: counts per class and state, rounds, metric, stopping signals.

    Example: [cyan]labelwise status tickets --json[/]
    """
    from labelwise.loop._project import status

    p = _open(project)
    st = status(p)
    curve = _status_curve(p)
    if curve is not None:
        st["learning_curve_png"] = str(curve)
    if as_json:
        typer.echo(json.dumps(st))
        return
    out.print(
        f"[bold]{project}[/]: {st['n_samples']} samples, {st['n_labeled']} labeled, "
        f"{st['n_pending']} selected and waiting for labels",
        highlight=False,
    )
    t = Table(title="labels per class")
    t.add_column("class")
    t.add_column("labels", justify="right")
    for c, n in st["labels_per_class"].items():
        t.add_row(c, str(n))
    out.print(t)
    out.print(
        f"features v{st['features_version']}, model v{st['model_version']} "
        f"(cv accuracy {st['model_metric']}); {len(st['rounds'])} finished round(s), "
        f"{len(st['open_rounds'])} open",
        highlight=False,
    )
    if st["rounds"]:
        t = Table(title="learning curve (finished rounds)")
        for c in ("round", "strategy", "labels", "cv accuracy"):
            t.add_column(c, justify="right")
        for r in st["rounds"]:
            t.add_row(
                str(r["round"]),
                r["strategy"],
                str(r["n_labeled_before"] + r["batch_size"]),
                f"{r['metric']:.4f}",
            )
        out.print(t)
    if curve is not None:
        out.print(f"learning curve: {curve}", highlight=False)
    if st["stopping"]["diminishing_returns"]:
        out.print(f"stopping signal: {st['stopping']['diminishing_returns']}", highlight=False)


def _status_curve(p: Project):
    """Write the project's learning curve PNG beside its database (2+ finished rounds)."""
    from labelwise.loop._plot import plot_project_curve
    from labelwise.loop._project import history

    rounds = [r for r in history(p) if r["metric"] is not None]
    if len(rounds) < 2:
        return None
    return plot_project_curve(rounds, p.path / "learning_curve.png", title=p.path.name)


@app.command("history")
def history_cmd(
    project: Path = DIR_ARG,
    sample: str = typer.Option(
        None,
        "--sample",
        help="Show one sample's provenance instead: "
        "every round that selected it (strategy, model, scores, reason) "
        "and every label it got.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Per round: strategy, model version, metric and how much of the batch is labeled.

    Example: [cyan]labelwise history tickets --sample t-1042[/]
    """
    from labelwise.loop._project import history, provenance

    if sample is not None:
        info = provenance(_open(project), sample)
        if as_json:
            typer.echo(json.dumps(info))
            return
        out.print(f"[bold]{sample}[/]", highlight=False)
        for sel in info["selections"]:
            out.print(
                f"  round {sel['round']}: picked #{sel['position'] + 1} by {sel['strategy']}"
                f" (model v{sel['model_version']}): {sel['reason']}",
                highlight=False,
            )
        for lab in info["labels"]:
            out.print(
                f"  label {lab['label']!r} by {lab['annotator'] or '?'} at {lab['at']} "
                f"({lab['status']})",
                highlight=False,
            )
        if not info["selections"] and not info["labels"]:
            out.print("  never selected, not labeled", highlight=False)
        return
    rows = history(_open(project))
    if as_json:
        typer.echo(json.dumps(rows))
        return
    t = Table(title=f"rounds of {project}")
    for c in ("round", "strategy", "model", "selected", "labeled", "metric"):
        t.add_column(c)
    for r in rows:
        t.add_row(
            str(r["round"]),
            r["strategy"],
            str(r["model_version"] or "-"),
            str(r["n_selected"]),
            str(r["n_selected_labeled"]),
            "-" if r["metric"] is None else f"{r['metric']:.4f}",
        )
    out.print(t)
