"""Project commands: init, import, embed, train, select, labels, status, history."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from labelwise.cli._app import app, out, progress_bar, usage_error
from labelwise.errors import shorten
from labelwise.store import Project

DIR_ARG = typer.Argument(..., help="The project folder.")


def _version(kind: str, version) -> str:
    """``model v3``, or ``no model`` before the first one."""
    return f"no {kind}" if version is None else f"{kind} v{version}"


def _open(path: Path) -> Project:
    return Project.open(path)


def _planned_eval_set(p: Project) -> int:
    """Draw the evaluation set planned by ``init --eval-size`` (a warning if the pool is short)."""
    from labelwise.cli._app import err
    from labelwise.errors import InvalidInputError
    from labelwise.loop._evalset import apply_planned_eval_set

    try:
        drawn = apply_planned_eval_set(p)
    except InvalidInputError as e:  # the import itself went in: warn, do not fail it
        err.print(f"warning: evaluation set not drawn yet: {e}", highlight=False, soft_wrap=True)
        return 0
    return 0 if drawn is None else drawn.size


@app.command("init")
def init_cmd(
    project: Path = DIR_ARG,
    task: str = typer.Option(
        "classification",
        "--task",
        help="classification (for now the "
        "project loop trains classifiers), regression, multilabel, detection (a label is an "
        "image's objects: class and box) or segmentation (class, box and polygon or RLE mask).",
    ),
    classes: str = typer.Option("", "--classes", help="Comma list of class names."),
    db: str = typer.Option(
        None,
        "--db",
        help="Database URL, e.g. postgresql+psycopg://u:p@"
        "127.0.0.1/db (default: SQLite in the folder).",
    ),
    eval_size: int = typer.Option(
        None,
        "--eval-size",
        help="Reserve a random evaluation set of N samples as soon as the pool is "
        "imported (as 'labelwise eval-set --size N' would).",
    ),
    eval_seed: int = typer.Option(
        None, "--eval-seed", help="Random seed of that draw (default: fresh, recorded)."
    ),
) -> None:
    """Create a project folder with its database.

    With --eval-size N, the first import reserves N samples drawn uniformly at random
    as the evaluation set (see 'labelwise eval-set').

    Example: [cyan]labelwise init tickets --task classification --classes bug,feature,question
    --eval-size 300[/]
    """
    if eval_size is not None and eval_size < 1:
        raise usage_error(f"--eval-size must be at least 1, got {eval_size}.")
    p = Project.init(project, task=task, classes=classes.split(","), db=db)
    if eval_size is not None:
        from labelwise.loop._evalset import set_planned_eval_size

        set_planned_eval_size(p, eval_size, seed=eval_seed)
    out.print(
        f"created project [bold]{escape(str(project))}[/] ({task}; classes: "
        f"{escape(', '.join(p.classes())) or 'none yet: the first labels set them'})",
        highlight=False,
        markup=True,
    )
    if eval_size is not None:
        out.print(
            f"the first import reserves {eval_size} random samples as the evaluation set",
            highlight=False,
        )


@app.command("import")
def import_cmd(
    project: Path = DIR_ARG,
    source: Path = typer.Argument(
        ...,
        help="CSV, Parquet or JSONL file, a folder of images, or a video (or folder of videos).",
    ),
    more_videos: list[Path] = typer.Argument(
        None, help="More video files or folders of videos, imported together.", show_default=False
    ),
    id_column: str = typer.Option(
        None,
        "--id-column",
        help="Column of stable sample ids (default: ids <file>-<row> are assigned).",
    ),
    text_column: str = typer.Option(None, "--text-column", help="Column holding the text."),
    target: str = typer.Option(None, "--target", help="Column of known labels to import too."),
    fmt: str = typer.Option(
        None,
        "--format",
        help="coco, yolo or label-studio: import the images (or texts) of an annotation file "
        "or dataset and their labels (COCO JSON; a YOLO folder or its data.yaml; a Label "
        "Studio JSON export). Images are found relative to the file or folder.",
        show_default=False,
    ),
    fps: float = typer.Option(
        None,
        "--fps",
        help="Videos: frames kept per second of video (default 1; the first frame of each "
        "1/fps seconds).",
        show_default=False,
    ),
    hash_distance: int = typer.Option(
        4,
        "--hash-distance",
        help="Videos: a frame whose 64-bit perceptual hash differs in at most this many bits "
        "from a kept frame of the same video is a near-duplicate (stored, pointing at that "
        "frame in meta duplicate_of, never selected). 0 drops only identical hashes.",
    ),
    dedupe: bool = typer.Option(
        True, "--dedupe/--no-dedupe", help="Videos: drop near-duplicate frames from the pool."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Add samples to the pool; all rows or none.

    Videos (.mp4, .mov, .mkv, ...; the video extra) are decoded into frames stored under
    the project (media/videos/ID/frame_N.jpg), with the video id, frame index, timestamp
    and sharpness in each frame's meta; near-duplicate frames are dropped from the pool.

    Example: [cyan]labelwise import footage clip.mp4 more_clips/ --fps 2[/]

    Example: [cyan]labelwise import tickets tickets.csv --id-column id --text-column body[/]
    """
    from labelwise.io._samples import import_pool
    from labelwise.io._video import is_video_source

    if fmt is not None:
        _import_annotated(project, source, fmt, as_json, id_column, text_column, target)
        return
    if more_videos or is_video_source(source):
        _import_videos(project, [source, *(more_videos or [])], fps, hash_distance, dedupe, as_json)
        return
    if fps is not None:
        raise usage_error(f"--fps is for videos; {source} is not a video or a folder of videos.")
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
    if r.skipped:  # one warning line on stderr, also with --json
        from labelwise.cli._app import err
        from labelwise.io._samples import MAX_IMAGE_PIXELS

        err.print(
            f"warning: skipped {len(r.skipped)} image(s) over {MAX_IMAGE_PIXELS:,} pixels: "
            f"{shorten(', '.join(r.skipped), 300)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    drawn = _planned_eval_set(p)
    if as_json:
        typer.echo(json.dumps({**r.__dict__, "eval_set_drawn": drawn}))
        return
    out.print(
        f"imported {r.n_samples} {r.kind} sample(s) and {r.n_labels} label(s) into {project}",
        highlight=False,
        markup=False,  # paths and ids are user text, not rich markup
    )
    if drawn:
        out.print(
            f"reserved {drawn} random samples as the evaluation set (init --eval-size); "
            f"write them for labeling with 'labelwise eval-set {project} --size {drawn} "
            "--out eval.csv'",
            highlight=False,
        )
    if r.ids_assigned:
        out.print(
            f"no --id-column: assigned ids like {', '.join(r.first_ids)}",
            highlight=False,
            markup=False,
        )


def _import_annotated(project: Path, source: Path, fmt, as_json, *columns) -> None:
    """``import --format coco|yolo|label-studio``: images or texts and their labels."""
    from labelwise.io._annotations import ANNOTATION_FORMATS, import_annotated

    if fmt not in ANNOTATION_FORMATS:
        raise usage_error(
            f"--format must be one of {', '.join(ANNOTATION_FORMATS)}, got {shorten(fmt)}."
        )
    if any(c is not None for c in columns):
        raise usage_error("--id-column, --text-column and --target are for tables, not --format.")
    p = _open(project)
    with progress_bar(f"import {source.name}", enabled=not as_json) as (set_total, advance):
        r = import_annotated(p, source, fmt, progress=advance, on_total=set_total)
    drawn = _planned_eval_set(p)
    if as_json:
        typer.echo(json.dumps({**r.__dict__, "eval_set_drawn": drawn}))
        return
    out.print(
        f"imported {r.n_samples} {r.kind} sample(s) and {r.n_labels} label(s) from {fmt} "
        f"into {project}",
        highlight=False,
        markup=False,
    )
    if drawn:
        out.print(f"reserved {drawn} random samples as the evaluation set", highlight=False)


def _import_videos(project: Path, sources, fps, hash_distance, dedupe, as_json) -> None:
    """``import`` of video files and folders: frames, near-duplicates, one summary line."""
    from labelwise.io._video import DEFAULT_FPS, import_videos

    p = _open(project)
    name = sources[0].name + (f" and {len(sources) - 1} more" if len(sources) > 1 else "")
    with progress_bar(f"decode {name}", enabled=not as_json, unit="frames") as (total, advance):
        r = import_videos(
            p,
            sources,
            fps=DEFAULT_FPS if fps is None else fps,
            max_distance=hash_distance if dedupe else None,
            progress=advance,
            on_total=total,
        )
    drawn = _planned_eval_set(p)
    if as_json:
        typer.echo(json.dumps({**r.__dict__, "eval_set_drawn": drawn}))
        return
    out.print(
        f"imported {r.n_samples} frame(s) of {r.n_videos} video(s) into {project}: "
        f"{r.n_samples - r.n_duplicates} in the pool, {r.n_duplicates} near-duplicate(s) "
        "dropped (stored with meta duplicate_of = the frame each repeats; never selected)",
        highlight=False,
        markup=False,
    )
    if drawn:
        out.print(f"reserved {drawn} random frames as the evaluation set", highlight=False)


@app.command("embed")
def embed_cmd(
    project: Path = DIR_ARG,
    method: str = typer.Option(
        "auto",
        "--method",
        help="auto, tabular, tfidf, minilm (text extra; the default for text when "
        "installed), pixels or efficientnet_lite0 (image extra: ImageNet-pretrained, "
        "1,280-d, offline; the default for images when installed).",
    ),
    precision: str = typer.Option(
        "mixed",
        "--precision",
        help="MiniLM only: mixed (int8 where vectors stay within 1e-3 cosine; faster) or fp32.",
    ),
    shards: int = typer.Option(
        None,
        "--shards",
        help="Store the features as N Parquet shards (id + float32 feature columns) in "
        "PROJECT/artifacts, written one shard at a time, for 'select --engine local|ray' "
        "on pools beyond one process.",
        show_default=False,
    ),
) -> None:
    """Compute features for every sample (columns, MiniLM or TF-IDF, EfficientNet or pixels).

    Prints the method that runs first (for MiniLM: OpenVINO or sentence-transformers,
    and the threads; for images: EfficientNet-Lite0 or pixels, and why), then a progress
    bar with the rate.

    Example: [cyan]labelwise embed tickets[/]

    Example: [cyan]labelwise embed tickets --shards 16[/] (then select --engine ray)
    """
    from labelwise.embed import compute_features

    p = _open(project)
    with progress_bar("embed", enabled=True, unit="samples") as (set_total, advance):

        def start(total: int, line: str) -> None:
            out.print(line, highlight=False, soft_wrap=True)  # which method runs; one line
            set_total(total)

        art = compute_features(
            p, method=method, progress=advance, on_start=start, precision=precision, shards=shards
        )
    sharded = f" in {art.info['shards']} Parquet shards" if art.info.get("shards") else ""
    out.print(
        f"features v{art.version}: {art.info['n_samples']} x {art.info['dim']} "
        f"({art.info['method']}){sharded} -> {art.path}",
        highlight=False,
    )


@app.command("train")
def train_cmd(
    project: Path = DIR_ARG,
    model: str = typer.Option(
        "logreg",
        "--model",
        help="logreg, logreg_cv (C chosen on the labels), svm, rf, knn, mlp, torch_mlp, "
        "torch_head or torch_cnn (torch extra).",
    ),
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
    out.print(f"model v{r['version']} ({model}) on {r['n_labeled']} labels", highlight=False)
    if r["metric"] is not None:
        lo, hi = r["metric_ci"]
        f_lo, f_hi = r["f1_ci"]
        out.print(
            f"evaluation accuracy {r['metric']:.4f} (95% interval {lo:.4f} to {hi:.4f}), "
            f"macro-F1 {r['f1']:.4f} ({f_lo:.4f} to {f_hi:.4f}) on {r['n_eval']} random "
            "evaluation labels",
            highlight=False,
        )
        if r.get("pool_metric") is not None:
            p_lo, p_hi = r["pool_metric_ci"]
            out.print(
                f"estimated accuracy on the {r['n_pool']} unlabeled rows {r['pool_metric']:.4f} "
                f"({p_lo:.4f} to {p_hi:.4f}): selection took the hard rows out of the pool",
                highlight=False,
            )
    else:
        out.print(f"[yellow]{escape(r['note'])}[/]", highlight=False, markup=True)
    cv = "n/a (too few labels per class)" if r["cv_metric"] is None else f"{r['cv_metric']:.4f}"
    out.print(
        f"cross-validated accuracy on the selected labels {cv} (biased by the selection)",
        highlight=False,
    )
    if r.get("n_retired_labels"):
        out.print(
            f"{r['n_retired_labels']} labels of retired classes excluded (kept in the project "
            "and in exports; no model is trained on them)",
            highlight=False,
        )


def _round_model(r: dict) -> str:
    """The model column of ``history``: a version, or the external file's name and hash."""
    ext = r.get("external")
    if ext:
        return f"{Path(ext['file']).name} ({ext['sha256'][:12]})"
    return str(r["model_version"] or "-")


def _strategy_params(items: list[str], fn) -> dict:
    """``--param KEY=VALUE`` options as a dict, each value read as YAML."""
    import inspect

    import yaml

    taken = set(inspect.signature(fn).parameters)
    out = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise usage_error(f"--param {item!r}: give KEY=VALUE, e.g. --param empty=skip.")
        if key in taken:
            raise usage_error(f"--param {key}: set it with its own option, not --param.")
        try:
            out[key] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise usage_error(f"--param {key}: {text!r} is not a YAML value.") from None
    return out


@app.command("select")
def select_cmd(
    project: Path = DIR_ARG,
    strategy: str = typer.Option(
        "auto",
        "--strategy",
        help="A strategy name ('labelwise strategies' lists them); auto: margin for batches "
        "under 50, cluster-margin (uncertain and diverse) for larger ones.",
    ),
    batch: int = typer.Option(
        None,
        "--batch",
        help="How many samples to select (default 50; --n-per-video and --proportion set it "
        "per video instead).",
        show_default=False,
    ),
    n_per_video: int = typer.Option(
        None,
        "--n-per-video",
        help="Select N frames from every video (all of a shorter one): the strategy runs "
        "inside each video (diversity, class balance and metadata weights such as sharpness "
        "within it). Samples that are not video frames count as one video.",
        show_default=False,
    ),
    proportion: float = typer.Option(
        None,
        "--proportion",
        help="Select this fraction (0 to 1] of each video's candidate frames, rounded half up; "
        "like --n-per-video otherwise.",
        show_default=False,
    ),
    out_file: Path = typer.Option(None, "--out", help="Write the batch to this CSV or JSONL."),
    seed: int = typer.Option(None, "--seed", help="Random seed (ties, random strategies)."),
    again: int = typer.Option(
        None,
        "--round",
        help="Select nothing: write stored round N to "
        "--out again (e.g. after a crash lost the file).",
    ),
    random_share: float = typer.Option(
        0.0,
        "--random-share",
        help="Share of the batch (0 to 1) drawn uniformly at random: the random arm, "
        "for an honest active-vs-random comparison on the dashboard.",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Open another round even though the latest one still has unlabeled picks.",
    ),
    with_content: bool | None = typer.Option(
        None,
        "--with-content/--no-with-content",
        help="Add each pick's content to --out after the id,score,reason,... columns: "
        "'text' for text, 'path' for images (on by default for both), the feature "
        "columns for table rows (off by default).",
        show_default=False,
    ),
    proba_file: Path = typer.Option(
        None,
        "--proba",
        help="Class probabilities from a model outside labelwise, instead of the stored "
        "model: a CSV/JSONL/Parquet table with 'id' and one column per class (named by the "
        "class or proba_<class>, as 'labelwise predict' writes), an .npy of shape (n, C) or "
        "(T, n, C) in the row order of 'labelwise predict' (T members or MC-dropout passes, "
        "for bald, vote_entropy, ...), or an .npz with 'ids' and 'proba'. Every candidate "
        "needs a row; unknown or missing ids are named. Works with the strategies that read "
        "probabilities only (margin, entropy, bald, ...; a wrong one is named).",
    ),
    predictions_path: Path = typer.Option(
        None,
        "--predictions",
        help="A detector's predictions for the detection_* and segmentation_* strategies: "
        "COCO results .json (image_id, category_id, bbox, score; optional scores, pass, "
        "segmentation), a folder of YOLO .txt files (class cx cy w h conf [class scores]; "
        "one sub-folder per MC-dropout pass), a .csv/.parquet table with the same columns, "
        "or for segmentation a folder of .npy/.npz probability maps. Image ids match a "
        "sample id, a COCO image id, a file name, or a file name without its extension.",
    ),
    param: list[str] = typer.Option(
        None,
        "--param",
        help="A strategy parameter KEY=VALUE (the value read as YAML), repeatable, e.g. "
        "--param empty=skip --param selector=class_balance (detection strategies: empty "
        "max|min|skip, selector top_k|k_center_greedy|weighted|class_balance, "
        "cost_lambda, strengths, target, n_candidates, band).",
    ),
    engine: str = typer.Option(
        None,
        "--engine",
        help="local or ray: score the sharded features ('embed --shards N') shard by shard, "
        'in this process or on a Ray cluster (ray needs pip install "labelwise[ray]"); '
        "the same picks as a plain select (ties to the smaller sample id). Runs margin, "
        "entropy, least_confidence, ratio, variance, k_center_greedy (distributed core-set, "
        "within 4x) and auto (cluster-margin for batches of 50 or more, as a plain select "
        "under the same --seed).",
        show_default=False,
    ),
    address: str = typer.Option(
        None,
        "--address",
        help="With --engine ray: the cluster address (e.g. ray://head:10001 or auto); "
        "without it a local cluster with this machine's cores.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the batch as JSON."),
) -> None:
    """Select the next batch to label and store it with each pick's scores and reason.

    While the latest round still has unlabeled picks, select refuses (label them
    first) unless --force opens another round.

    Samples of the random evaluation set (see 'labelwise eval-set') are never selected.

    With --proba FILE the scores come from your own model's probabilities (e.g. from a
    GPU box): nothing is trained, there is no cold start, and the round records the
    file's name and SHA-256 ('labelwise history' shows it). The file is checked in full
    before anything is stored.

    Example: [cyan]labelwise select tickets --strategy margin --batch 50 --out batch.csv[/]

    Example: [cyan]labelwise select photos --strategy bald --proba mc_dropout.npy[/]

    Example: [cyan]labelwise select footage --strategy k_center_greedy --n-per-video 5
    --out frames.csv[/]

    Example: [cyan]labelwise select street --strategy detection_min_confidence
    --predictions yolo_preds/ --param empty=skip[/]

    Example: [cyan]labelwise select tickets --strategy margin --batch 1000 --engine ray[/]
    (after 'labelwise embed tickets --shards 16'; progress: rows/s, shards, time left)
    """
    from labelwise._validation import check_writable
    from labelwise.io._formats import TABLE_FORMATS
    from labelwise.loop._project import export_round, select_batch

    if out_file is not None:  # before anything is selected or stored
        check_writable(out_file, flag="--out", suffixes=tuple(TABLE_FORMATS))
    if again is not None:
        if out_file is None:
            raise usage_error("--round needs --out FILE to write the stored batch to.")
        path = export_round(_open(project), again, out_file, with_content=with_content)
        out.print(f"wrote round {again} to {path}", highlight=False)
        return
    per_video = n_per_video is not None or proportion is not None
    if n_per_video is not None and proportion is not None:
        raise usage_error("give --n-per-video or --proportion, not both.")
    if per_video and batch is not None:
        raise usage_error(
            "--batch cannot be combined with --n-per-video or --proportion (they set the "
            "batch per video); drop one."
        )
    batch = 50 if batch is None else batch
    if batch < 1:
        raise usage_error(f"--batch must be at least 1, got {batch}.")
    if not 0.0 <= random_share <= 1.0:
        raise usage_error(f"--random-share must be within [0, 1], got {random_share}.")
    if address is not None and engine != "ray":
        raise usage_error("--address needs --engine ray.")
    if engine is not None:
        r = _select_on_shards(
            project,
            engine,
            address,
            strategy,
            batch,
            out_file,
            force,
            with_content,
            as_json,
            seed,
            {
                "--n-per-video": n_per_video,
                "--proportion": proportion,
                "--random-share": random_share or None,
                "--proba": proba_file,
                "--predictions": predictions_path,
                "--param": param or None,
            },
        )
    else:
        strategy_params = _strategy_params(param or [], select_batch)
        r = _select_plain(
            project,
            strategy,
            batch,
            out_file,
            seed,
            random_share,
            force,
            with_content,
            proba_file,
            n_per_video,
            proportion,
            predictions_path,
            strategy_params,
        )
    _print_batch(r, strategy, as_json)


def _select_on_shards(
    project, engine, address, strategy, batch, out_file, force, with_content, as_json, seed, others
):
    """Run select --engine: the sharded features scored shard by shard, with progress."""
    from labelwise.cli.score import _Bar
    from labelwise.loop._sharded import select_sharded

    given = [flag for flag, value in others.items() if value is not None]
    if given:
        raise usage_error(
            f"--engine cannot be combined with {', '.join(given)}; select on sharded "
            "features takes --strategy, --batch, --seed, --out, --force and --with-content."
        )
    bar = _Bar(enabled=not as_json)
    try:
        return select_sharded(
            _open(project),
            engine=engine,
            strategy=strategy,
            batch_size=batch,
            address=address,
            out=out_file,
            force=force,
            with_content=with_content,
            progress=bar,
            random_state=seed,
        )
    finally:
        bar.stop()


def _select_plain(
    project,
    strategy,
    batch,
    out_file,
    seed,
    random_share,
    force,
    with_content,
    proba_file,
    n_per_video,
    proportion,
    predictions_path,
    strategy_params,
):
    from labelwise.loop._project import select_batch

    return select_batch(
        _open(project),
        strategy=strategy,
        batch_size=batch,
        out=out_file,
        random_state=seed,
        random_share=random_share,
        force=force,
        with_content=with_content,
        proba=proba_file,
        n_per_video=n_per_video,
        proportion=proportion,
        predictions=predictions_path,
        **strategy_params,
    )


def _print_batch(r, strategy: str, as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "round": r.round,
                    "strategy": r.strategy,
                    "cold_start": r.cold_start,
                    "batch": r.rows,
                    **({"skipped": r.skipped} if r.skipped else {}),
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
    if r.skipped:
        some = ", ".join(r.skipped[:5]) + (
            f" and {len(r.skipped) - 5} more" if len(r.skipped) > 5 else ""
        )
        out.print(
            f"left out {len(r.skipped)} image(s) without a prediction (empty=skip): {some}",
            highlight=False,
        )
    if r.out:
        out.print(f"wrote {r.out}", highlight=False)


@app.command("labels")
def labels_cmd(
    project: Path = DIR_ARG,
    action: str = typer.Argument(..., help="import or export"),
    file: Path = typer.Argument(
        ...,
        help="Columns id,label (+ annotator, duration): .csv, or .jsonl / .parquet by extension; "
        "or an annotation file or folder with --format.",
    ),
    annotator: str = typer.Option(
        None, "--annotator", help="Who labeled (when the file has no annotator column)."
    ),
    fmt: str = typer.Option(
        None,
        "--format",
        help="coco|yolo|label-studio|csv|jsonl|parquet, or image-folder (export only: one "
        "folder per class). Default: by the file's extension. yolo and image-folder write a "
        "folder (new or empty).",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Import labels (atomic; re-importing the same file changes nothing) or export them.

    CSV, JSONL or Parquet by the file's extension; exported CSV cells that a spreadsheet
    would run as formulas (starting with = + - @) get a leading ' and read back unchanged.

    Detection and segmentation labels are each image's objects as JSON (class, box
    [x, y, w, h] in pixels, polygons or RLE mask); --format coco, yolo or label-studio
    reads and writes them in those formats, keyed on the sample ids.

    Example: [cyan]labelwise labels tickets import labeled.csv[/]

    Example: [cyan]labelwise labels boxes export boxes.json --format coco[/]
    """
    from labelwise.io._labels import export_labels, import_labels

    p = _open(project)
    if action == "import":
        if fmt == "image-folder":
            raise usage_error(
                "--format image-folder is for export; import class folders with "
                "'labelwise import PROJECT FOLDER'."
            )
        r = import_labels(p, file, annotator=annotator, fmt=fmt)
        if as_json:
            typer.echo(json.dumps(r.__dict__))
        else:
            out.print(
                f"labels: {r.new} new, {r.changed} changed, {r.unchanged} unchanged",
                highlight=False,
            )
    elif action == "export":
        n = export_labels(p, file, fmt=fmt)
        if as_json:
            typer.echo(json.dumps({"exported": n, "file": str(file)}))
        else:
            out.print(f"exported {n} label(s) to {file}", highlight=False, markup=False)
    else:
        raise usage_error(f"labels action must be 'import' or 'export', got {shorten(action)}.")


@app.command("status")
def status_cmd(
    project: Path = DIR_ARG,
    target: float = typer.Option(
        None,
        "--target",
        help="Forecast how many more labels reach this evaluation accuracy (needs an "
        "evaluation set and 3+ finished rounds).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Where the project stands: counts per class and state, rounds, metric, stopping signals.

    Each round's metric is the accuracy on the labeled part of the random evaluation set,
    with its 95% interval; the cross-validated accuracy on the selected labels is shown
    beside it (biased by the selection).

    Example: [cyan]labelwise status tickets --json --target 0.9[/]
    """
    from labelwise.loop._project import status

    if target is not None and not 0.0 < target <= 1.0:
        raise usage_error(f"--target must be within (0, 1], got {target}.")
    p = _open(project)
    st = status(p, target=target)
    curve = _status_curve(p)
    if curve is not None:
        st["learning_curve_png"] = str(curve)
    if as_json:
        typer.echo(json.dumps(st))
        return
    out.print(
        f"[bold]{escape(str(project))}[/]: {st['n_samples']} samples, {st['n_labeled']} labeled, "
        f"{st['n_pending']} selected and waiting for labels",
        highlight=False,
        markup=True,
    )
    t = Table(title="labels per class")
    t.add_column("class")
    t.add_column("labels", justify="right")
    for c, n in st["labels_per_class"].items():
        t.add_row(c, str(n))
    out.print(t)
    if st.get("n_retired_labels"):
        out.print(
            f"{st['n_retired_labels']} labels of retired classes excluded from training",
            highlight=False,
        )
    ev = st["eval_set"]
    out.print(
        f"evaluation set: {ev['size']} random samples, {ev['n_labeled']} labeled",
        highlight=False,
    )
    if st["metric_note"]:
        out.print(f"[yellow]{escape(st['metric_note'])}[/]", highlight=False, markup=True)
    out.print(
        f"{_version('features', st['features_version'])}, "
        f"{_version('model', st['model_version'])} "
        f"(evaluation accuracy {_fmt(st['model_metric'], st['model_metric_ci'])}; "
        f"cv accuracy on the selected labels {_fmt(st['model_cv_metric'])}; "
        "estimated on the unlabeled rows "
        f"{_fmt(st['model_pool_metric'], st['model_pool_metric_ci'])}); "
        f"{len(st['rounds'])} finished round(s), {len(st['open_rounds'])} open",
        highlight=False,
    )
    if st["rounds"]:
        t = Table(title="learning curve (finished rounds)")
        cols = ("round", "strategy", "labels", "eval accuracy (95% interval)", "n_eval", "cv")
        for c in (*cols, "unlabeled rows (est.)"):
            t.add_column(c, justify="right")
        for r in st["rounds"]:
            t.add_row(
                str(r["round"]),
                r["strategy"],
                str(r["n_labeled"]),
                _fmt(r["metric"], r["metric_ci"]),
                str(r["n_eval"]),
                _fmt(r["cv_metric"]),
                _fmt(r["pool_metric"]),
            )
        out.print(t)
    if curve is not None:
        out.print(f"learning curve: {curve}", highlight=False)
    if st["stopping"]["diminishing_returns"]:
        out.print(f"stopping signal: {st['stopping']['diminishing_returns']}", highlight=False)
    fc = st.get("forecast")
    if fc:
        out.print(f"forecast: {fc.get('refused') or fc['message']}", highlight=False)


def _fmt(value, ci=None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" + (f" ({ci[0]:.4f} to {ci[1]:.4f})" if ci else "")


def _status_curve(p: Project):
    """Write the project's learning curve PNG beside its database (2+ finished rounds)."""
    from labelwise.loop._plot import plot_project_curve
    from labelwise.loop._project import history

    rounds = [r for r in history(p) if r["finished"]]
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
        out.print(f"[bold]{escape(sample)}[/]", highlight=False, markup=True)
        for sel in info["selections"]:
            out.print(
                f"  round {sel['round']}: picked #{sel['position'] + 1} by {sel['strategy']}"
                f" ({_version('model', sel['model_version'])}): {sel['reason']}",
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
        from labelwise.loop._evalset import is_reserved

        if is_reserved(_open(project), sample):
            out.print("  reserved for the random evaluation set: never selected", highlight=False)
        return
    p = _open(project)
    rows = history(p)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    from labelwise.loop._evalset import eval_set_info

    for d in eval_set_info(p)["draws"]:
        out.print(
            f"evaluation set: {d['added']} random samples reserved at {d['at']} "
            f"(total {d['size']}, seed {d['seed']})",
            highlight=False,
        )
    t = Table(title=f"rounds of {project}")
    for c in ("round", "strategy", "model", "selected", "labeled", "metric"):
        t.add_column(c)
    for r in rows:
        t.add_row(
            str(r["round"]),
            r["strategy"],
            _round_model(r),
            str(r["n_selected"]),
            str(r["n_selected_labeled"]),
            "-" if r["metric"] is None else f"{r['metric']:.4f}",
        )
    out.print(t)
