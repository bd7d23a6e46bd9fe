"""``labelwise score``: select a batch from a pool stored as Parquet shards, locally or on Ray."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from labelwise.cli._app import _RateColumn, app, err, out


class _Bar:
    """Rows scored (with rows/s and the time left) and shards done, on stderr."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def start(self, n_rows: int, n_shards: int) -> None:
        if not self.enabled:
            return
        self.n_shards = n_shards
        self.bar = Progress(
            TextColumn("[bold]score"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"),
            _RateColumn("rows"),
            TextColumn("{task.fields[shards]}"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=err,
        )
        self.task = self.bar.add_task("score", total=n_rows, shards=f"0/{n_shards} shards")
        self.bar.start()

    def update(self, rows: int, shards_done: int, pass_no: int | None = None) -> None:
        """Rows and shards done; a run of several passes (k-means) restarts the bar each pass."""
        if self.bar is None:
            return
        shards = f"{shards_done}/{self.n_shards} shards"
        if pass_no is not None:
            if pass_no != getattr(self, "pass_no", None):
                self.pass_no = pass_no
                self.bar.reset(self.task, completed=0)  # rate and time left of this pass
            shards += f", pass {pass_no}"
        self.bar.update(self.task, completed=rows, shards=shards)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command("score")
def score_cmd(
    data: str = typer.Option(
        ...,
        "--data",
        help="The pool's Parquet shards: a quoted glob ('shards/*.parquet') or a folder.",
    ),
    model: Path = typer.Option(
        None,
        "--model",
        help="A model file written by 'labelwise train' (PROJECT/artifacts/model-vN.pkl), "
        "applied to the feature columns (every numeric column but the id and probability "
        "ones). It is unpickled: use your own files only.",
    ),
    proba_columns: str = typer.Option(
        None,
        "--proba-columns",
        help="The shards already hold class probabilities in the columns starting with "
        "this prefix, e.g. p_.",
    ),
    strategy: str = typer.Option(
        "margin",
        "--strategy",
        help="least_confidence, margin, ratio, entropy, variance (exact top-k), "
        "k_center_greedy (per-shard core-sets, within 4x the exact greedy's radius), or "
        "kmeans_equal (distributed k-means with --batch clusters; each cluster's row nearest "
        "its centre, largest cluster first; score = rows in the cluster).",
    ),
    batch: int = typer.Option(..., "--batch", help="How many samples to select."),
    out_path: Path = typer.Option(
        ..., "--out", help="CSV of the picks: id, score, rank (1 = label first)."
    ),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="local (this process) or ray (a Ray cluster; needs pip install "
        '"labelwise[ray]"). Both give the same picks.',
    ),
    address: str = typer.Option(
        None,
        "--address",
        help="Ray cluster address (e.g. ray://head:10001 or auto); without it --engine ray "
        "starts a local cluster with this machine's cores.",
    ),
    id_column: str = typer.Option(
        "id", "--id-column", help="Column of unique sample ids (integers or strings)."
    ),
    seed: int = typer.Option(
        None,
        "--seed",
        help="Random seed of kmeans_equal's k-means++ seeding: the same seed gives the same "
        "picks with either engine (default: fresh, printed with --json).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary, no progress bar."),
) -> None:
    """Score a pool stored as Parquet shards and write the best --batch samples.

    Each shard is scored where it is read (batch by batch); only each shard's best
    rows reach the driver, whose memory stays O(batch x shards + model). The top-k
    is exact and the same with --engine local and --engine ray.

    Example: [cyan]labelwise score --data 'shards/*.parquet' --proba-columns p_
    --strategy margin --batch 1000 --out picks.csv --engine ray[/]
    """
    from labelwise._validation import check_writable
    from labelwise.scale import load_model_file, score_shards
    from labelwise.store import atomic_write

    path = check_writable(out_path, flag="--out", suffixes=(".csv",))
    clf = load_model_file(model) if model is not None else None
    bar = _Bar(enabled=not as_json)
    try:
        result = score_shards(
            data,
            strategy=strategy,
            batch_size=batch,
            model=clf,
            proba_prefix=proba_columns,
            id_column=id_column,
            engine=engine,
            address=address,
            random_state=seed,
            progress=bar,
        )
    finally:
        bar.stop()
    atomic_write(path, result.to_csv())
    summary = {
        "strategy": result.strategy,
        "engine": result.engine,
        "n_rows": result.n_rows,
        "n_shards": result.n_shards,
        "n_picks": int(result.ids.size),
        "out": str(path),
        **result.info,
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    out.print(
        f"scored {result.n_rows:,} rows in {result.n_shards} shard(s) with {escape(strategy)} "
        f"({engine}); wrote {result.ids.size} picks to {escape(str(path))}",
        highlight=False,
    )
