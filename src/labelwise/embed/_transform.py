"""Embed samples that are not in the project the way its newest features were computed.

``labelwise embed`` computes one matrix for the whole pool; data that arrives later (a
stream line, a production batch) must land in the same space for the stored model to
read it. :func:`feature_transform` rebuilds what the features artifact was made with:

- ``tabular``: the project's columns in its order, standardised with the mean and
  standard deviation of the rows the features were computed from;
- ``tfidf``: TF-IDF + SVD refit on those texts (deterministic, ``random_state=0``), then applied;
- ``minilm``, ``pixels``, ``efficientnet_lite0``: per sample, as ``embed`` runs them.

Applied to the project's own rows it gives back the stored matrix (to float32 precision).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from sqlalchemy import select

from labelwise.errors import InvalidInputError
from labelwise.store import Project
from labelwise.store._models import Sample

__all__ = ["FeatureTransform", "feature_transform"]

#: What a record must carry for each method: ``data`` (a dict of columns), ``text`` or ``uri``.
FIELD = {
    "tabular": "data",
    "tfidf": "text",
    "minilm": "text",
    "pixels": "uri",
    "efficientnet_lite0": "uri",
}


@dataclass
class FeatureTransform:
    """Maps records (dicts with ``data``, ``text`` or ``uri``) to rows of the project's features.

    Attributes
    ----------
    method : str
        The features' method (``tabular``, ``tfidf``, ...).
    version : int
        The features version it reproduces.
    field : str
        What each record must carry: ``data``, ``text`` or ``uri``.
    columns : list of str or None
        The table's columns, in order (tabular only).
    unscale : callable or None
        Maps rows of the features back to the table's own units (tabular only), e.g.
        so that a report says ``age = 71`` rather than a standardised 2.3.
    """

    method: str
    version: int
    field: str
    columns: list[str] | None
    _fn: Callable[[list[dict]], np.ndarray]
    unscale: Callable[[np.ndarray], np.ndarray] | None = None

    def transform(self, records: Sequence[dict]) -> np.ndarray:
        """Features of ``records``, shape (n_records, dim), float32 like the stored ones."""
        return np.ascontiguousarray(self._fn(list(records)), dtype=np.float32)


def feature_transform(project: Project) -> FeatureTransform:
    """The transform behind the project's newest features (a clear error when there are none)."""
    from labelwise.embed._features import load_features

    _, sample_ids, version = load_features(project)
    art = project.latest_artifact("features")
    method = art.info["method"]
    if method not in FIELD:
        raise InvalidInputError(f"features v{version} use an unknown method {method!r}.")
    field = FIELD[method]
    columns = unscale = None
    if method == "tabular":
        fn, columns, unscale = _tabular(project, sample_ids)
    elif method == "tfidf":
        fn = _tfidf(project, sample_ids)
    elif method == "minilm":
        from labelwise.embed._features import _minilm

        precision = art.info.get("precision", "mixed")
        fn = lambda recs: _minilm(_rows(recs), None, None, False, precision)  # noqa: E731
    elif method == "pixels":
        from labelwise.embed._features import _pixels

        fn = lambda recs: _pixels(_rows(recs), None)  # noqa: E731
    else:
        from labelwise.embed._features import _efficientnet

        fn = lambda recs: _efficientnet(_rows(recs), None, None, False)  # noqa: E731
    return FeatureTransform(method, version, field, columns, fn, unscale)


def _rows(records: list[dict]) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(text=r.get("text"), uri=r.get("uri"), data=r.get("data")) for r in records
    ]


def _stored(project: Project, sample_ids: np.ndarray, column):
    """``column`` of the samples the features were computed from, in the features' order."""
    with project.session() as s:
        got = dict(s.execute(select(Sample.id, column).order_by(Sample.id)).all())
    return [got[int(i)] for i in sample_ids if int(i) in got]


def _tabular(project: Project, sample_ids: np.ndarray):
    data = _stored(project, sample_ids, Sample.data)
    names = list(data[0])
    X = np.array([[d[n] for n in names] for d in data], dtype=np.float64)
    mean, sd = X.mean(axis=0), X.std(axis=0)
    sd[sd == 0] = 1.0

    def fn(records: list[dict]) -> np.ndarray:
        Z = np.array([[r["data"][n] for n in names] for r in records], dtype=np.float64)
        return (Z.reshape(len(records), len(names)) - mean) / sd

    def unscale(F: np.ndarray) -> np.ndarray:
        Z = np.asarray(F, dtype=np.float64) * sd + mean
        # the stored features are float32: an integer code comes back as 3.0000001
        near = np.round(Z)
        snap = np.abs(Z - near) <= 1e-5 * np.maximum(1.0, np.abs(Z))
        return np.where(snap, near, Z)

    return fn, names, unscale


def _tfidf(project: Project, sample_ids: np.ndarray):
    from labelwise.embed._features import tfidf_model

    texts = [t or "" for t in _stored(project, sample_ids, Sample.text)]
    _, encode = tfidf_model(texts)
    return lambda records: encode([r["text"] for r in records])
