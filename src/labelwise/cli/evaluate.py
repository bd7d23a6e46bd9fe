"""Evaluation commands: eval-set (a random evaluation set) and predict (the model's output)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from labelwise.cli._app import app, out, usage_error
from labelwise.store import Project

DIR_ARG = typer.Argument(..., help="The project folder.")


@app.command("eval-set")
def eval_set_cmd(
    project: Path = DIR_ARG,
    size: int = typer.Option(
        ..., "--size", help="Total size of the evaluation set (a larger one grows it)."
    ),
    seed: int = typer.Option(None, "--seed", help="Random seed of the draw (default: fresh)."),
    out_file: Path = typer.Option(
        None,
        "--out",
        help="Write its samples that still need a label, as 'select --out' does "
        "(CSV, JSONL or Parquet).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Reserve samples drawn uniformly at random from the unlabeled pool as the evaluation set.

    Reserved samples are never selected and no model is fit on their labels; every trained
    model is scored on their labels (accuracy and macro-F1 with 95% intervals). Label them
    like any other (labels import, or the web queue). --size is the new total: run it again
    with a larger size to grow the set; every draw is kept in the history.

    Example: [cyan]labelwise eval-set tickets --size 300 --seed 0 --out eval.csv[/]
    """
    from labelwise.loop._evalset import draw_eval_set

    if size < 1:
        raise usage_error(f"--size must be at least 1, got {size}.")
    if out_file is not None:  # before anything is reserved
        from labelwise._validation import check_writable
        from labelwise.io._formats import TABLE_FORMATS

        check_writable(out_file, flag="--out", suffixes=tuple(TABLE_FORMATS))
    r = draw_eval_set(Project.open(project), size, seed=seed, out=out_file)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "size": r.size,
                    "added": r.added,
                    "seed": r.seed,
                    "unlabeled": len(r.rows),
                    "out": None if r.out is None else str(r.out),
                }
            )
        )
        return
    out.print(
        f"evaluation set: {r.size} samples ({r.added} drawn now, seed {r.seed}); "
        f"{len(r.rows)} still need a label",
        highlight=False,
    )
    if r.out:
        out.print(f"wrote {r.out}", highlight=False)


@app.command("predict")
def predict_cmd(
    project: Path = DIR_ARG,
    out_file: Path = typer.Option(
        ..., "--out", help="CSV, JSONL (.jsonl) or Parquet (.parquet) file to write."
    ),
    model_version: int = typer.Option(
        None, "--model-version", help="Model version to use (default: the latest)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a summary as JSON."),
) -> None:
    """Write the model's prediction for every sample: pre-labels, and the model to check by hand.

    One row per sample: id, predicted, proba_<class> per class, the project strategy's score
    and split (labeled, eval or pool).

    Example: [cyan]labelwise predict tickets --out predictions.parquet[/]
    """
    from labelwise.loop._predict import predict

    r = predict(Project.open(project), out_file, model_version=model_version)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "out": str(r.path),
                    "rows": r.n_rows,
                    "model_version": r.model_version,
                    "strategy": r.strategy,
                    "columns": r.columns,
                    "splits": r.splits,
                }
            )
        )
        return
    out.print(
        f"wrote {r.n_rows} predictions of model v{r.model_version} to {r.path} "
        f"(score: {r.strategy}; {r.splits['labeled']} labeled, {r.splits['eval']} eval, "
        f"{r.splits['pool']} pool)",
        highlight=False,
    )
