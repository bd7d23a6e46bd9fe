"""Feature preprocessing for the simulation bench: fit the scaling to the kind of features.

Standardising every column on the pool suits raw tabular columns (ages, prices,
counts on different scales), but it hurts embeddings: a text or image encoder
spreads its meaning over hundreds of dimensions on one scale, and standardising
blows the near-constant dimensions up to the size of the informative ones (on AG
News MiniLM vectors, logistic regression with every pool label scored 0.838
standardised and 0.881 raw). So ``auto`` looks at the features:

- **embeddings** (rows of unit length, as every labelwise embedding is, or at
  least 64 dense, non-integer columns on one scale): L2-normalised rows, then
  one factor for all columns (the pool's mean column std), so the geometry of
  the embedding is kept and only its overall scale changes. Without that
  factor, unit rows of 384 dimensions have values near 0.05 and a default
  ``C = 1`` logistic regression is regularised far too hard (SMS spam, MiniLM,
  60 random labels: 0.868 accuracy raw, 0.933 rescaled, 0.938 standardised);
- **tabular** columns (anything else): standardised with the pool's mean and std.

:func:`choose_preprocessing` says what it chose and why; the bench writes that
into ``results.json`` (``preprocessing``) and prints it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from labelwise.errors import InvalidInputError, did_you_mean, shorten

__all__ = [
    "PREPROCESSING",
    "Preprocessing",
    "check_preprocess",
    "choose_preprocessing",
    "feature_kind",
]

#: ``--preprocess`` values: ``auto`` picks one of the others from the features.
PREPROCESSING = ("auto", "standardize", "l2", "none")

_UNIT_TOL = 1e-3  # |norm - 1| below which a row counts as unit length
_MIN_EMBED_DIM = 64  # fewer dense columns than this look like a table, not an encoder
_SCALE_RATIO = 10.0  # 90th / 10th percentile of column stds: above it, columns differ in scale


@dataclass(frozen=True)
class Preprocessing:
    """What runs on the features before the model sees them, and why.

    Attributes
    ----------
    method : {"standardize", "l2", "none"}
        What runs: pool mean/std per column; unit-length rows divided by the
        pool's mean column std (one number); or nothing.
    asked : str
        What was asked for (``auto`` or the method itself).
    why : str
        One line for the user.
    """

    method: str
    asked: str
    why: str

    def apply(self, X_pool: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Transform pool and test rows; statistics (if any) come from the pool only."""
        if self.method == "standardize":
            mu = X_pool.mean(axis=0)
            sd = X_pool.std(axis=0)
            sd[sd == 0] = 1.0
            return (X_pool - mu) / sd, (X_test - mu) / sd
        if self.method == "l2":
            # one factor for every column: the embedding's geometry stays as it is, but the
            # values get the scale a model's default regularisation expects (mean column std 1)
            Xp, Xt = _l2(X_pool), _l2(X_test)
            scale = float(Xp.std(axis=0).mean())
            if scale > 0:
                Xp, Xt = Xp / scale, Xt / scale
            return Xp, Xt
        return X_pool, X_test

    def to_dict(self) -> dict:
        """The ``preprocessing`` entry of ``results.json``."""
        return asdict(self)

    def line(self) -> str:
        """E.g. ``preprocessing: l2 (auto: rows have unit length: embeddings)``."""
        if self.asked == "auto":
            return f"preprocessing: {self.method} (auto: {self.why})"
        return f"preprocessing: {self.method} ({self.why})"


def _l2(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)


def feature_kind(X) -> tuple[str, str]:
    """Whether ``X`` looks like embeddings or tabular columns, with the reason.

    Returns
    -------
    kind : {"embedding", "tabular"}
    why : str

    Examples
    --------
    >>> import numpy as np
    >>> feature_kind(np.array([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]]))[0]
    'embedding'
    >>> feature_kind(np.array([[25, 40_000.0], [61, 52_000.0], [33, 18_500.0]]))[0]
    'tabular'
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    norms = np.linalg.norm(X, axis=1)
    if n and d > 1 and np.mean(np.abs(norms - 1.0) < _UNIT_TOL) >= 0.99:
        return "embedding", "rows have unit length: embeddings"
    if d >= _MIN_EMBED_DIM:
        sample = X[: min(n, 2000)]
        non_integer = float(np.mean(sample != np.round(sample)))
        sd = sample.std(axis=0)
        sd = sd[sd > 0]
        ratio = float(np.percentile(sd, 90) / np.percentile(sd, 10)) if sd.size else np.inf
        if non_integer >= 0.5 and ratio <= _SCALE_RATIO:
            return "embedding", f"{d} dense non-integer columns on one scale: embeddings"
    return "tabular", "columns of a table"


def check_preprocess(asked) -> str:
    """``asked`` if it is one of :data:`PREPROCESSING`, else an error naming the choices."""
    if asked not in PREPROCESSING:
        raise InvalidInputError(
            f"--preprocess must be one of {', '.join(PREPROCESSING)}, got {shorten(asked)}."
            + did_you_mean(str(asked), PREPROCESSING)
        )
    return asked


def choose_preprocessing(X, asked: str = "auto") -> Preprocessing:
    """The preprocessing for ``X``: ``asked`` itself, or for ``auto`` by :func:`feature_kind`.

    ``auto`` L2-normalises embeddings and standardises tabular columns.

    Raises
    ------
    InvalidInputError
        ``asked`` is not one of :data:`PREPROCESSING`.
    """
    check_preprocess(asked)
    if asked != "auto":
        why = {
            "standardize": "pool mean and std per column",
            "l2": "rows scaled to unit length, then by one pool factor",
            "none": "features as given",
        }[asked]
        return Preprocessing(asked, asked, why)
    kind, why = feature_kind(X)
    if kind == "embedding":
        return Preprocessing("l2", "auto", why)
    return Preprocessing("standardize", "auto", f"{why}: standardised on the pool")
