"""``labelwise run pipeline.yaml``: the whole loop from one file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from labelwise.cli._app import app, out


@app.command("run")
def run_cmd(
    pipeline: Path = typer.Argument(..., help="The pipeline YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print the final status as JSON."),
) -> None:
    """Run a pipeline file end to end: import, features, rounds until a stopping rule fires.

    Killed or interrupted, it resumes at the last finished step when run again.

    Example: [cyan]labelwise run pipeline.yaml[/]
    """
    from labelwise.config import load_pipeline
    from labelwise.loop._pipeline import run_pipeline

    cfg = load_pipeline(pipeline)
    echo = (lambda m: None) if as_json else (lambda m: out.print(m, highlight=False))
    st = run_pipeline(cfg, echo=echo)
    if as_json:
        typer.echo(json.dumps(st))
        return
    out.print(
        f"{st['n_labeled']} labeled of {st['n_samples']}; outputs in {cfg.outputs.folder}",
        highlight=False,
    )
