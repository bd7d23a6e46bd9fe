"""``labelwise bench`` and ``labelwise demo``: simulated active learning with known labels."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from labelwise.cli._app import app, err, out, progress_bar, usage_error
from labelwise.errors import InvalidInputError, UnknownNameError, did_you_mean, shorten

# The heavy modules (scikit-learn, scipy, faiss) load inside the commands, so that
# `labelwise --help` and the project commands start fast.

DEMO_STRATEGIES = (
    "random",
    "auto",
    "margin",
    "entropy",
    "least_confidence",
    "k_center_greedy",
    "kmeans_proportional",
    "weighted",
)


TASK_HELP = (
    "classification, regression (metric r2 or neg_rmse) or multilabel (several --target columns)."
)
MODEL_HELP = (
    "Classification/multi-label: logreg, logreg_cv (C chosen on the labels), svm, rf, knn, mlp, "
    "torch_mlp, torch_head, torch_cnn "
    "(torch extra). Regression: ridge, rf, gp, knn. "
    "Default: svm (bench), logreg (recommend), ridge (regression)."
)


RECOMMEND_DEFAULT = (
    "auto",
    "margin",
    "entropy",
    "least_confidence",
    "k_center_greedy",
    "kmeans_proportional",
    "weighted",
    "random",
)
RECOMMEND_DEFAULTS = {
    "regression": ("committee_std", "k_center_greedy", "random"),
    "multilabel": ("multilabel_mean", "multilabel_max", "k_center_greedy", "random"),
}


# Options that bench and recommend share
TARGET_OPTION = typer.Option(
    None, "--target", help="Label column of a CSV file (a comma list for multi-label)."
)
TASK_OPTION = typer.Option("classification", "--task", help=TASK_HELP)
MODEL_OPTION = typer.Option(None, "--model", help=MODEL_HELP)
TEXT_COLUMN_OPTION = typer.Option(
    None,
    "--text-column",
    help="CSV column of text: embedded with TF-IDF + SVD as 'labelwise embed' does "
    "(the other feature columns are then not used).",
)
ID_COLUMN_OPTION = typer.Option(
    None, "--id-column", help="CSV column of sample ids: left out of the features."
)
PREPROCESS_OPTION = typer.Option(
    "auto",
    "--preprocess",
    help="What runs on the features first: auto (L2-normalised rows for embeddings, e.g. "
    "MiniLM or TF-IDF vectors; pool mean/std per column for tabular data), standardize, "
    "l2 or none. The results say which ran.",
)
PROJECT_OPTION = typer.Option(
    None,
    "--project",
    help="A labelwise project folder instead of --data: its newest features and its accepted "
    "labels of active classes (evaluation-set labels are ordinary rows: the simulation draws "
    "its own test split). The project is only read.",
)


def load_source(
    data: str | None,
    project: str | None,
    *,
    task: str,
    initial: int,
    test_size: float,
    quiet: bool,
    **csv_flags,
):
    """The data set of --data or --project (exactly one), and what a project replay used.

    A replay says which project, features and labels it uses, unless ``quiet``.
    """
    if data is not None and project is not None:
        raise usage_error("give --data or --project, not both.")
    if data is None and project is None:
        raise usage_error(
            "give --data (CSV, .npz, svmlight or a bundled set such as digits) or --project "
            "DIR (a labelwise project with features and labels)."
        )
    if project is None:
        from labelwise.io import load_dataset

        return load_dataset(data, **csv_flags), None
    given = ["--" + k.replace("_", "-") for k, v in csv_flags.items() if v is not None]
    if given:
        raise usage_error(f"{', '.join(given)} only apply to --data, not to --project.")
    if task != "classification":
        raise usage_error(f"--project replays classification projects; got --task {task}.")
    from labelwise.loop._replay import project_dataset

    ds, source = project_dataset(project, initial=initial, test_size=test_size)
    if not quiet:
        out.print(source.line(), highlight=False)
    return ds, source


def parse_strategies(text: str, task: str = "classification") -> list[str]:
    """Split a comma list of strategy names; ``all`` means every strategy for the task."""
    from labelwise.strategies import STRATEGIES, strategy_names

    names = [s.strip() for s in text.split(",") if s.strip()]
    if names == ["all"]:
        return strategy_names(task)
    if not names:
        raise InvalidInputError("--strategies is empty; e.g. --strategies margin,random.")
    for n in names:
        if n not in STRATEGIES:
            raise UnknownNameError(
                f"unknown strategy {shorten(n)} in --strategies; run 'labelwise strategies' "
                "for the list." + did_you_mean(n, STRATEGIES)
            )
    return names


def _default_out(prefix: str) -> Path:
    return Path(f"labelwise-{prefix}-{time.strftime('%Y%m%d-%H%M%S')}")


def _check_out(path: Path | None, prefix: str, files=("results.json", "learning_curve.png")):
    """The --out folder (default: a new timestamped one), checked before any work starts."""
    from labelwise._validation import check_writable

    path = path or _default_out(prefix)
    check_writable(path, flag="--out", folder=True)
    for name in files:
        check_writable(path / name, flag="--out")
    return path


def _prepare_out(path: Path) -> Path:
    _check_out(path, "bench")
    path.mkdir(parents=True, exist_ok=True)
    return path


def print_results(results: dict) -> None:
    """Print the AUBC table and the labels-vs-metric table."""
    strategies = results["strategies"]
    rand = strategies.get("random", {}).get("aubc_mean")
    ordered = sorted(strategies.items(), key=lambda kv: -kv[1]["aubc_mean"])
    metric = results["metric"]
    t = Table(
        title=f"AUBC ({metric}) on {results['dataset']}: {results['model']}, "
        f"batch {results['batch']}, {results['budget']} labels, "
        f"{len(results['seeds'])} seed(s)"
    )
    t.add_column("strategy")
    t.add_column("AUBC mean ± std", justify="right")
    if rand is not None:
        t.add_column("vs random", justify="right")
    t.add_column(f"final {metric}", justify="right")
    t.add_column("would stop at (median labels, rule)")
    t.add_column("s / round", justify="right")
    for name, r in ordered:
        row = [name, f"{r['aubc_mean']:.4f} ± {r['aubc_std']:.4f}"]
        if rand is not None:
            row.append("-" if name == "random" else f"{r['aubc_mean'] - rand:+.4f}")
        row.append(f"{r['mean_curve'][-1]:.4f}")
        stops = [s for s in r["stopping"] if s]
        if stops:
            rules = sorted({s["rule"] for s in stops})
            row.append(
                f"{int(np.median([s['labels'] for s in stops]))} ({', '.join(rules)}; "
                f"{len(stops)}/{len(r['stopping'])} seeds)"
            )
        else:
            row.append("did not fire")
        row.append(f"{r['seconds_per_round']:.3f}")
        t.add_row(*row)
    out.print(t)
    if results.get("preprocessing"):
        from labelwise.loop._preprocess import Preprocessing

        out.print(Preprocessing(**results["preprocessing"]).line(), highlight=False)
    labels = ordered[0][1]["labels"]
    picks = sorted({int(i) for i in np.linspace(0, len(labels) - 1, num=min(7, len(labels)))})
    t2 = Table(title=f"labels vs mean test {metric}")
    t2.add_column("labels", justify="right")
    for name, _ in ordered:
        t2.add_column(name, justify="right")
    for i in picks:
        t2.add_row(str(labels[i]), *[f"{r['mean_curve'][i]:.4f}" for _, r in ordered])
    out.print(t2)
    for name, r in ordered:
        if r.get("forecast"):
            out.print(f"forecast for {name}: {r['forecast']['message']}", highlight=False)
    for note in results.get("notes", []):
        err.print(f"note: {note}", highlight=False)


def run_and_report(ds, out_dir: Path, *, quiet: bool, source=None, **kw) -> dict:
    """Run the bench with a progress bar, write results.json and the PNG, print tables.

    ``source``: the :class:`~labelwise.loop._replay.ProjectSource` of a ``--project`` run.
    """
    from labelwise.loop._bench import run_bench
    from labelwise.loop._plot import plot_learning_curves

    out_dir = _prepare_out(out_dir)
    with progress_bar(f"bench {ds.name}", enabled=not quiet) as (set_total, advance):
        results = run_bench(ds.X, ds.y, dataset=ds.name, progress=advance, on_total=set_total, **kw)
    results["n_samples"] = int(ds.X.shape[0])
    if source is not None:
        results["project"] = dataclasses.asdict(source)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    png = plot_learning_curves(results, out_dir / "learning_curve.png")
    if not quiet:
        print_results(results)
    return {"results": out_dir / "results.json", "plot": png}


@app.command("bench")
def bench_cmd(
    data: str = typer.Option(
        None,
        "--data",
        help="CSV, .npz (X, y), svmlight file, or a bundled "
        "set: digits, breast_cancer, wine, iris, diabetes (regression).",
    ),
    project: str = PROJECT_OPTION,
    target: str = TARGET_OPTION,
    text_column: str = TEXT_COLUMN_OPTION,
    id_column: str = ID_COLUMN_OPTION,
    task: str = TASK_OPTION,
    model: str = MODEL_OPTION,
    strategies: str = typer.Option(
        None,
        "--strategies",
        help="Comma list of strategy names, or 'all' "
        "(default: auto,random; committee_std,random for regression).",
    ),
    initial: int = typer.Option(20, "--initial", help="Initial labeled set (every class present)."),
    batch: int = typer.Option(1, "--batch", help="Labels queried per round."),
    budget: str = typer.Option(
        "all", "--budget", help="Labels to query after the initial set, or 'all' (the whole pool)."
    ),
    seeds: int = typer.Option(10, "--seeds", help="Repetitions with seeds 0..S-1."),
    test_size: float = typer.Option(0.4, "--test-size", help="Share of rows held out for testing."),
    metric: str = typer.Option(
        None,
        "--metric",
        help="accuracy (default), f1 (macro), balanced_accuracy; regression: "
        "r2 (default), neg_rmse; multi-label: micro_f1 (default), subset_accuracy, hamming_score.",
    ),
    out_dir: Path = typer.Option(
        None,
        "--out",
        help="Folder for results.json and the PNG (default: a new labelwise-bench-<time> folder).",
    ),
    stop_target: float = typer.Option(
        None, "--stop-target", help="Report when the metric reaches this value."
    ),
    stop_patience: int = typer.Option(
        None,
        "--stop-patience",
        help="Rounds without a gain of "
        "--stop-delta before 'diminishing returns' fires "
        "(default: rounds covering 20 labels).",
    ),
    stop_delta: float = typer.Option(0.005, "--stop-delta", help="Minimum gain for patience."),
    cost_column: str = typer.Option(
        None,
        "--cost-column",
        help="CSV column with each row's labeling cost (> 0, e.g. "
        "seconds); strategies rank by score / cost^lambda.",
    ),
    cost_lambda: float = typer.Option(1.0, "--cost-lambda", help="Exponent of the cost."),
    jobs: int = typer.Option(1, "--jobs", help="Parallel workers (-1 = all cores)."),
    preprocess: str = PREPROCESS_OPTION,
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON summary on stdout instead of tables."
    ),
) -> None:
    """Compare strategies with random sampling in simulation on data with known labels.

    Example: [cyan]labelwise bench --data breast_cancer --model svm --strategies margin,random
    --initial 20 --batch 1 --budget all --seeds 10 --out bench-bc[/]

    A stored project replays like a CSV: [cyan]labelwise bench --project tickets --model logreg[/]
    """
    if batch < 1:
        raise usage_error(f"--batch must be at least 1, got {batch}.")
    if seeds < 1:
        raise usage_error(f"--seeds must be at least 1, got {seeds}.")
    if initial < 1:
        raise usage_error(f"--initial must be at least 1, got {initial}.")
    from labelwise.loop._preprocess import check_preprocess

    check_preprocess(preprocess)
    names = parse_strategies(strategies or _default_strategies(task), task)
    out_dir = _check_out(out_dir, "bench")
    ds, source = load_source(
        data,
        project,
        task=task,
        initial=initial,
        test_size=test_size,
        quiet=as_json,
        target=target,
        cost_column=cost_column,
        text_column=text_column,
        id_column=id_column,
    )
    paths = run_and_report(
        ds,
        out_dir,
        quiet=as_json,
        source=source,
        task=task,
        labels=ds.target_names if task == "multilabel" else None,
        cost=ds.cost,
        cost_lambda=cost_lambda,
        model=model,
        strategies=names,
        initial=initial,
        batch_size=batch,
        budget=budget,
        seeds=seeds,
        test_size=test_size,
        metric=metric,
        stop_target=stop_target,
        stop_k=stop_patience,
        stop_delta=stop_delta,
        n_jobs=jobs,
        preprocess=preprocess,
    )
    _finish(paths, as_json)


def _default_strategies(task: str) -> str:
    first = {
        "classification": "auto",
        "regression": "committee_std",
        "multilabel": "multilabel_mean",
    }
    return f"{first.get(task, 'margin')},random"


def _finish(paths: dict, as_json: bool) -> None:
    results = json.loads(paths["results"].read_text())
    if as_json:
        summary = {
            k: {"aubc_mean": v["aubc_mean"], "aubc_std": v["aubc_std"]}
            for k, v in results["strategies"].items()
        }
        doc = {
            "results": str(paths["results"]),
            "plot": str(paths["plot"]),
            "notes": results["notes"],
            "preprocessing": results.get("preprocessing"),
            "strategies": summary,
        }
        if "project" in results:
            doc["project"] = results["project"]
        typer.echo(json.dumps(doc))
        return
    out.print(f"wrote {paths['results']} and {paths['plot']}", highlight=False)


@app.command("demo")
def demo_cmd(
    out_dir: Path = typer.Option(
        None, "--out", help="Folder for the results (default: a new labelwise-demo-<time> folder)."
    ),
    seeds: int = typer.Option(3, "--seeds", help="Repetitions."),
    jobs: int = typer.Option(-1, "--jobs", help="Parallel workers (-1 = all cores)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary instead of tables."),
) -> None:
    """Simulated active learning on scikit-learn's bundled digits: strategies vs random.

    Logistic regression, 20 initial labels, batches of 10 up to 200 more labels;
    writes results.json and learning_curve.png.

    Example: [cyan]labelwise demo --out demo-run[/]
    """
    if seeds < 1:
        raise usage_error(f"--seeds must be at least 1, got {seeds}.")
    out_dir = _check_out(out_dir, "demo")
    from labelwise.io import load_dataset

    ds = load_dataset("digits")
    if not as_json:
        out.print(
            f"labelwise demo: {len(DEMO_STRATEGIES)} strategies on digits "
            f"({ds.X.shape[0]} images of 8x8 pixels, 10 classes), {seeds} seed(s)"
        )
    paths = run_and_report(
        ds,
        out_dir,
        quiet=as_json,
        model="logreg",
        strategies=list(DEMO_STRATEGIES),
        initial=20,
        batch_size=10,
        budget=200,
        seeds=seeds,
        test_size=0.4,
        metric="accuracy",
        n_jobs=jobs,
    )
    _finish(paths, as_json)


@app.command("recommend")
def recommend_cmd(
    data: str = typer.Option(
        None, "--data", help="Your labeled data: CSV, .npz (X, y), svmlight, or a bundled set."
    ),
    project: str = PROJECT_OPTION,
    target: str = TARGET_OPTION,
    text_column: str = TEXT_COLUMN_OPTION,
    id_column: str = ID_COLUMN_OPTION,
    task: str = TASK_OPTION,
    model: str = MODEL_OPTION,
    strategies: str = typer.Option(
        None,
        "--strategies",
        help="Comma list of candidate strategies, or 'all'; random is always added "
        f"(default: {','.join(RECOMMEND_DEFAULT)}; for regression "
        "committee_std,predictive_std,k_center_greedy).",
    ),
    initial: int = typer.Option(20, "--initial", help="Initial labeled set (every class present)."),
    batch: int = typer.Option(10, "--batch", help="Labels queried per round."),
    budget: str = typer.Option("200", "--budget", help="Labels to query, or 'all'."),
    seeds: int = typer.Option(5, "--seeds", help="Repetitions with seeds 0..S-1."),
    test_size: float = typer.Option(0.4, "--test-size", help="Share of rows held out."),
    metric: str = typer.Option(
        None,
        "--metric",
        help="As for bench: accuracy, f1, balanced_accuracy, r2, neg_rmse, "
        "micro_f1, subset_accuracy, hamming_score.",
    ),
    out_dir: Path = typer.Option(
        None, "--out", help="Folder for recommendation.json, results.json and the PNG."
    ),
    jobs: int = typer.Option(1, "--jobs", help="Parallel workers (-1 = all cores)."),
    preprocess: str = PREPROCESS_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print recommendation.json on stdout."),
) -> None:
    """Replay strategies on data you already labeled and recommend the best for it.

    Ranks strategies by AUBC (mean ± std over seeds), with the labels each needed to
    reach 95 % of the full-data metric and its time per round.

    Example: [cyan]labelwise recommend --data labeled.csv --target label --model logreg
    --strategies margin,entropy,k_center_greedy --initial 20 --batch 10 --budget 200
    --seeds 5 --out rec[/]

    Or on a labelwise project: [cyan]labelwise recommend --project tickets --model logreg[/]
    """
    if batch < 1 or seeds < 1 or initial < 1:
        raise usage_error("--batch, --seeds and --initial must each be at least 1.")
    if strategies is None:
        strategies = ",".join(RECOMMEND_DEFAULTS.get(task, RECOMMEND_DEFAULT))
    from labelwise.loop._preprocess import check_preprocess

    check_preprocess(preprocess)
    names = parse_strategies(strategies, task)
    if "random" not in names:
        names.append("random")
    out_dir = _check_out(
        out_dir, "recommend", ("results.json", "recommendation.json", "learning_curve.png")
    )
    from labelwise.loop._plot import plot_learning_curves
    from labelwise.loop._recommend import recommend

    ds, source = load_source(
        data,
        project,
        task=task,
        initial=initial,
        test_size=test_size,
        quiet=as_json,
        target=target,
        text_column=text_column,
        id_column=id_column,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    with progress_bar(f"replay {ds.name}", enabled=not as_json) as (set_total, advance):
        rec, results = recommend(
            ds.X,
            ds.y,
            dataset=ds.name,
            task=task,
            labels=ds.target_names if task == "multilabel" else None,
            model=model or ("logreg" if task != "regression" else None),
            strategies=names,
            initial=initial,
            batch_size=batch,
            budget=budget,
            seeds=seeds,
            test_size=test_size,
            metric=metric,
            n_jobs=jobs,
            preprocess=preprocess,
            progress=advance,
            on_total=set_total,
        )
    results["n_samples"] = int(ds.X.shape[0])
    if source is not None:
        results["project"] = rec["project"] = dataclasses.asdict(source)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    (out_dir / "recommendation.json").write_text(json.dumps(rec, indent=1))
    png = plot_learning_curves(results, out_dir / "learning_curve.png")
    if as_json:
        typer.echo(json.dumps(rec))
        return
    t = Table(
        title=f"strategies ranked for {ds.name} ({rec['model']}, {rec['metric']}); target = "
        f"95 % of the full-data {rec['metric']} {rec['full_data_metric']:.4f}"
    )
    for c in ("#", "strategy", "AUBC mean ± std", "labels to target", "s / round"):
        t.add_column(c, justify="left" if c == "strategy" else "right")
    for i, e in enumerate(rec["ranking"], 1):
        t.add_row(
            str(i),
            e["strategy"],
            f"{e['aubc_mean']:.4f} ± {e['aubc_std']:.4f}",
            "not reached" if e["labels_to_target"] is None else str(e["labels_to_target"]),
            f"{e['seconds_per_round']:.3f}",
        )
    out.print(t)
    from labelwise.loop._preprocess import Preprocessing

    out.print(Preprocessing(**results["preprocessing"]).line(), highlight=False)
    for note in results.get("notes", []):
        err.print(f"note: {note}", highlight=False)
    out.print(f"recommended: {rec['recommended']}: {rec['why']}", highlight=False)
    out.print(
        f"wrote {out_dir / 'recommendation.json'}, results.json and {png.name}",
        highlight=False,
    )
