"""``labelwise monitor``: drift tests on a production batch, a report, picks for labeling."""

from __future__ import annotations

from pathlib import Path

import typer

from labelwise.cli._app import app, out


@app.command("monitor")
def monitor_cmd(
    project: Path = typer.Argument(..., help="The project folder."),
    data: str = typer.Option(
        ...,
        "--data",
        help="The production batch: a CSV, Parquet or JSONL file, a folder of images, or the "
        "name of a batch tag (meta.batch) of samples already in the project.",
    ),
    reference: str = typer.Option(
        None,
        "--reference",
        help="What to compare with: pool (default: every imported sample, the data the model "
        "serves), eval (the random evaluation set), train (the labels the model was fit on), "
        "labeled (labeled + evaluation samples; strategy picks are not a random sample) or a "
        "file of the same columns as --data.",
    ),
    out_dir: Path = typer.Option(
        ..., "--out", help="Folder for report.json and report.html (created if missing)."
    ),
    enqueue: int = typer.Option(
        0,
        "--enqueue",
        help="Add the N most informative batch samples (drifted, uncertain or outlying, spread "
        "over clusters) to the pool and open a labeling round for them.",
    ),
    id_column: str = typer.Option(
        None, "--id-column", help="Column with the batch's ids (default: 'id' when present)."
    ),
    text_column: str = typer.Option(
        None, "--text-column", help="Text column of a text project (default: 'text')."
    ),
    force: bool = typer.Option(
        False, "--force", help="With --enqueue: open the round even while another is open."
    ),
) -> None:
    """Test a production batch for drift against the project; exit 0 with or without drift.

    Per-feature tests (Kolmogorov-Smirnov, chi-square, PSI), a classifier two-sample test on
    the embeddings, prediction drift, uncertainty spikes, committee disagreement, outliers,
    all corrected together (Benjamini-Hochberg, 5 % false alarms), and the model's
    accuracy estimated without labels.

    Example: [cyan]labelwise monitor proj --data batch-07.csv --out mon-07 --enqueue 20[/]
    """
    from labelwise.monitor._project import monitor_project
    from labelwise.monitor._report import summary_line
    from labelwise.store import Project

    p = Project.open(project)
    run = monitor_project(
        p,
        data,
        reference=reference,
        out=out_dir,
        enqueue=enqueue,
        id_column=id_column,
        text_column=text_column,
        force=force,
    )
    out.print(summary_line(run.report), highlight=False, soft_wrap=True)
