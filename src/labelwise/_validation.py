"""Input checks shared by scorers, selectors and the loop.

Every check raises :class:`~labelwise.errors.InvalidInputError` (a ``ValueError``)
with a message that says what was wrong and how to fix it.
"""

from __future__ import annotations

import numpy as np

from labelwise.errors import EmptyPoolError, InvalidInputError, shorten

_SUM_TOL = 1e-3

#: The longest sample id (characters): the ``sample.uid`` column is ``String(512)``.
MAX_ID_LENGTH = 512
#: The longest label, class or annotator name (``String(200)`` columns).
MAX_NAME_LENGTH = 200


def normalize_id(value) -> str:
    r"""The one rule for sample ids: the text without surrounding whitespace.

    Every place that takes an id from a person applies it (sample import, label
    import, gold answers, web API and CLI lookups), so ``" t-1 "`` in a label
    file finds the sample imported as ``t-1``. An id that is empty after it, holds
    a NUL byte or is longer than :data:`MAX_ID_LENGTH` is refused
    (:func:`id_problem`).

    Examples
    --------
    >>> normalize_id("  t-1\t")
    't-1'
    >>> normalize_id(7)
    '7'
    """
    return str(value).strip()


def text_problem(value: str, *, max_length: int | None = None) -> str | None:
    """Why a text cannot be stored (a NUL byte, too long), or None.

    PostgreSQL refuses NUL bytes in text; SQLite would store them, so both
    backends refuse them here, before anything is written.
    """
    if "\x00" in value:
        return "holds a NUL byte (\\x00); remove it"
    if max_length is not None and len(value) > max_length:
        return f"is {len(value):,} characters long; the most is {max_length:,}"
    return None


def id_problem(uid: str) -> str | None:
    """Why a normalised id cannot be a sample id (empty, NUL byte, too long), or None."""
    if not uid:
        return "is empty"
    return text_problem(uid, max_length=MAX_ID_LENGTH)


def check_id(value, *, where: str, error: type[Exception] = InvalidInputError) -> str:
    """Normalise an id (:func:`normalize_id`) and raise ``error`` naming ``where`` if unusable."""
    uid = normalize_id(value)
    why = id_problem(uid)
    if why:
        raise error(f"{where}: the id {shorten(uid) + ' ' if uid else ''}{why}.")
    return uid


def check_proba(proba, *, name: str = "proba") -> np.ndarray:
    """Validate class probabilities of shape (n_samples, n_classes)."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2:
        raise InvalidInputError(
            f"{name} must have shape (n_samples, n_classes), got an array of shape {p.shape}."
        )
    _check_probability_values(p, name)
    return p


def check_probas(probas, *, name: str = "probas") -> np.ndarray:
    """Validate committee probabilities of shape (n_members, n_samples, n_classes)."""
    p = np.asarray(probas, dtype=np.float64)
    if p.ndim != 3:
        raise InvalidInputError(
            f"{name} must have shape (n_members, n_samples, n_classes), "
            f"got an array of shape {p.shape}."
        )
    if p.shape[0] < 1:
        raise InvalidInputError(f"{name} needs at least one committee member.")
    _check_probability_values(p, name)
    return p


def _check_probability_values(p: np.ndarray, name: str) -> None:
    # One min/max pass covers NaN, inf and the range; one more pass sums the rows.
    if p.shape[-1] < 2:
        raise InvalidInputError(
            f"{name} must have at least 2 classes in its last axis, got {p.shape[-1]}."
        )
    if p.size == 0:
        return
    lo, hi = float(p.min()), float(p.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InvalidInputError(f"{name} contains NaN or inf values.")
    if lo < -_SUM_TOL or hi > 1 + _SUM_TOL:
        raise InvalidInputError(f"{name} has values outside [0, 1]; pass probabilities.")
    sums = p.sum(axis=-1)
    bad = np.abs(sums - 1.0) > _SUM_TOL
    if bad.any():
        where = np.argwhere(bad)[0]
        raise InvalidInputError(
            f"{name} rows must sum to 1; row {tuple(int(i) for i in where)} sums to "
            f"{sums[tuple(where)]:.4g}. Pass predict_proba output, not raw scores."
        )


def check_X(X, *, name: str = "X") -> np.ndarray:
    """Validate a finite 2-D feature matrix and return it as float32, C-contiguous."""
    a = np.asarray(X)
    if a.ndim != 2:
        raise InvalidInputError(
            f"{name} must have shape (n_samples, n_features), got an array of shape {a.shape}."
        )
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        cols = np.flatnonzero(~np.isfinite(a).all(axis=0))
        raise InvalidInputError(
            f"{name} has NaN or inf values in column(s) {cols[:10].tolist()}; "
            "impute or drop them first."
        )
    return a


def check_indices(idx, n: int, *, name: str) -> np.ndarray:
    """Validate an integer index array into ``range(n)`` without duplicates."""
    if idx is None:
        return np.empty(0, dtype=np.intp)
    a = np.asarray(idx)
    if a.size == 0:
        return np.empty(0, dtype=np.intp)
    if a.dtype == bool:
        if a.shape != (n,):
            raise InvalidInputError(f"{name} as a boolean mask must have length {n}.")
        return np.flatnonzero(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise InvalidInputError(f"{name} must be an array of integer indices, got {a.dtype}.")
    a = a.astype(np.intp, copy=False).ravel()
    if a.min() < 0 or a.max() >= n:
        raise InvalidInputError(f"{name} has indices outside [0, {n}).")
    seen = np.zeros(n, dtype=bool)  # O(n), unlike sorting for np.unique
    seen[a] = True
    if int(np.count_nonzero(seen)) != a.size:
        raise InvalidInputError(f"{name} has duplicate indices.")
    return a


def resolve_candidates(n: int, labeled, candidates) -> tuple[np.ndarray, np.ndarray]:
    """Return (labeled, candidates); candidates default to every row not labeled."""
    lab = check_indices(labeled, n, name="labeled")
    if candidates is None:
        mask = np.ones(n, dtype=bool)
        mask[lab] = False
        cand = np.flatnonzero(mask)
    else:
        cand = check_indices(candidates, n, name="candidates")
    if cand.size == 0:
        raise EmptyPoolError("The pool is empty: there are no unlabeled candidates to select from.")
    return lab, cand


def check_batch_size(batch_size) -> int:
    """Validate a positive integer batch size."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}.")
    return int(batch_size)


def check_scores(scores, n_candidates: int | None = None, *, name: str = "scores") -> np.ndarray:
    """Validate a finite 1-D score array (aligned with the candidates when given)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {s.shape}.")
    if n_candidates is not None and s.shape[0] != n_candidates:
        raise InvalidInputError(
            f"{name} has {s.shape[0]} entries but there are {n_candidates} candidates; "
            "pass one score per candidate, in the candidates' order."
        )
    if s.size == 0:
        raise EmptyPoolError("The pool is empty: there are no candidates to select from.")
    if not np.isfinite(s).all():
        raise InvalidInputError(f"{name} contains NaN or inf values.")
    return s


def check_multilabel_proba(proba, *, name: str = "proba") -> np.ndarray:
    """Validate per-label probabilities P(label present), shape (n_samples, n_labels), in [0, 1]."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 1:
        raise InvalidInputError(
            f"{name} must have shape (n_samples, n_labels), got an array of shape {p.shape}."
        )
    if not np.isfinite(p).all():
        raise InvalidInputError(f"{name} contains NaN or inf values.")
    if (p < -_SUM_TOL).any() or (p > 1 + _SUM_TOL).any():
        raise InvalidInputError(f"{name} has values outside [0, 1]; pass per-label probabilities.")
    return np.clip(p, 0.0, 1.0)


def check_writable(
    path,
    *,
    flag: str,
    folder: bool = False,
    suffixes: tuple[str, ...] | None = None,
):
    """Refuse an output path that cannot be written, before anything is stored.

    Every command that writes a file or a folder calls this first, so that a bad
    ``--out`` is one line naming ``flag`` instead of a traceback after a round was
    stored. Nothing is created: the nearest existing folder is probed with a
    temporary file (named like :func:`~labelwise.store.atomic_write`'s), which is
    removed at once; missing parent folders are fine when they can be created.

    Parameters
    ----------
    path : str or Path
    flag : str
        How the user named the path (``"--out"``, ``"p.yaml: outputs.folder"``).
    folder : bool, default=False
        The path is a folder to write into (it may exist) rather than a file.
    suffixes : tuple of str, optional
        File name endings the writer understands (lower case, with the dot).

    Returns
    -------
    Path
    """
    import os
    import tempfile
    from pathlib import Path

    p = Path(path)
    shown = shorten(str(p))
    if folder:
        if p.exists() and not p.is_dir():
            raise InvalidInputError(f"{flag} {shown} is a file; give a folder.")
        start = p
    else:
        if p.is_dir():
            raise InvalidInputError(f"{flag} {shown} is a folder; give a file name.")
        if p.exists() and not p.is_file():
            raise InvalidInputError(f"{flag} {shown} is not a regular file; give a file name.")
        if suffixes and p.suffix.lower() not in suffixes:
            raise InvalidInputError(
                f"{flag} {shown}: cannot write a {p.suffix or 'suffix-less'} file; give a name "
                f"ending in {' or '.join(suffixes)}."
            )
        start = p.parent
    anc = start.absolute()
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise InvalidInputError(
            f"{flag} {shown}: {shorten(str(anc))} is a file, not a folder; give another path."
        )
    try:
        fd, probe = tempfile.mkstemp(dir=anc, prefix=f".{p.name[:200]}.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InvalidInputError(
            f"{flag} {shown} cannot be written ({e.strerror or e} in {shorten(str(anc))}); "
            "give a path in a folder you can write to."
        ) from None
    return p


def check_count_params(params, keys) -> None:
    """Refuse counts that are not positive integers and a ``cost_lambda`` that is no number.

    ``keys`` names the count parameters to check; absent parameters are fine.
    """
    for key in keys:
        v = params.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1):
            raise InvalidInputError(f"{key} must be a positive integer, got {shorten(v)}.")
    v = params.get("cost_lambda")
    if v is not None and (
        isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v)
    ):
        raise InvalidInputError(f"cost_lambda must be a number, got {shorten(v)}.")
