"""External predictions: class probabilities from a model that lives outside labelwise.

``labelwise select PROJECT --proba FILE`` and the pipeline's ``model: {external: FILE}``
score and select with probabilities computed elsewhere (e.g. a network on a GPU
box); labelwise trains nothing. The file is read and checked in full before
anything is stored, and the round records its name and SHA-256.

Accepted files
--------------
- **Tables** (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``/``.pq``): a column
  ``id`` (the sample ids as imported) and one column per project class, named
  either by the class (``cat``) or ``proba_<class>`` (``proba_cat``, what
  ``labelwise predict`` writes, so its output reads back as it is). predict's
  other columns (``predicted``, ``score``, ``split``) are ignored; any other
  column is refused as an unknown class. A table gives one probability row per
  sample, shape ``(n, C)``.
- **NPY** (``.npy``): no ids, so the row order is fixed: the order of the rows
  ``labelwise predict`` writes (the project's samples with features, in stored
  order), and the class axis follows ``project.classes()``. Shape ``(n, C)`` or
  ``(T, n, C)`` (T committee members or MC-dropout passes), with ``n`` the number
  of such samples.
- **NPZ** (``.npz``): arrays ``ids`` (strings) and ``proba`` of shape ``(m, C)``
  or ``(T, m, C)``, rows in the order of ``ids``; any subset of samples.

Rules: ids must be samples of the project (unknown ids are named, with their
count) and appear once; every candidate the strategy scores (unlabeled, outside
the evaluation set, not already selected) needs a row (missing ones are named);
rows of labeled or evaluation samples are allowed. Values are finite, within
[0, 1], and each row sums to 1 within 1e-3 (then it is renormalised); the first
bad row is named by its line (CSV, JSONL), row (Parquet) or index (NPY/NPZ).

Committee scorers (``bald``, ``vote_entropy``, ...) need ``(T, n, C)`` with
T >= 2; uncertainty scorers take ``(n, C)`` or the mean over T of ``(T, n, C)``.
Strategies that need a fitted model object (``expected_error_reduction``) or the
gradient of a linear model on labelwise's own features (``expected_gradient_length``,
``badge``), regression and multi-label strategies, and strategies that use no
probabilities at all (``random``, ``k_center_greedy``, ``typicality``, ...)
are refused with --proba: :func:`proba_strategies` lists the ones that work.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labelwise._validation import normalize_id
from labelwise.errors import InvalidInputError, clip, did_you_mean, shorten

__all__ = [
    "EXTERNAL_FORMATS",
    "ExternalPredictions",
    "check_proba_strategy",
    "finish_external_rounds",
    "proba_strategies",
    "read_external",
    "score_external",
]

#: File extensions ``--proba`` reads, and the format of each.
EXTERNAL_FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npy": "npy",
    ".npz": "npz",
}
#: predict's columns that are not probabilities: ignored in a table.
_PREDICT_EXTRAS = ("predicted", "score", "split")
#: Strategies whose needs the file can meet but which compute a linear model's gradient.
_GRADIENT_STRATEGIES = {
    "expected_gradient_length": "the loss gradient of a linear model on labelwise's features",
    "badge": "gradient embeddings of a linear model on labelwise's features",
}
_SUM_TOL = 1e-3
_NAMED = 5  # how many offending ids a message names


def _refusal(strategy) -> str | None:
    """Why a strategy cannot run on external probabilities, or None when it can."""
    needs = set(strategy.needs)
    if strategy.name in _GRADIENT_STRATEGIES:
        return (
            f"needs {_GRADIENT_STRATEGIES[strategy.name]}, which external probabilities cannot give"
        )
    if "model" in needs:
        return "needs the fitted model itself (it refits it per candidate)"
    if not needs & {"proba", "committee", "regression_committee", "std"}:
        return "uses no probabilities (it needs no model); run it without --proba"
    if strategy.task != "classification":
        return f"is a {strategy.task} strategy; --proba gives single-label class probabilities"
    return None


def proba_strategies() -> list[str]:
    """Names of the strategies that can select from external probabilities."""
    from labelwise.strategies import STRATEGIES

    return [n for n, s in STRATEGIES.items() if _refusal(s) is None]


def check_proba_strategy(strategy, *, flag: str = "--proba") -> None:
    """Refuse a strategy that external probabilities cannot drive, naming what it needs."""
    why = _refusal(strategy)
    if why is not None:
        raise InvalidInputError(
            f"strategy {strategy.name!r} {why}; with {flag} use one of "
            f"{', '.join(proba_strategies())}."
        )


@dataclass
class ExternalPredictions:
    """Probabilities read from a file, aligned with the project's feature rows.

    Attributes
    ----------
    source : str
        The file (or ``"array"``).
    sha256 : str
    fmt : str
    probas : ndarray of shape (n_members, n_rows, n_classes)
        ``n_members`` is 1 for a file of shape ``(n, C)``.
    members : bool
        Whether the file had a member axis ``(T, n, C)``.
    positions : ndarray of shape (n_rows,)
        Row of the feature matrix each probability row belongs to.
    """

    source: str
    sha256: str
    fmt: str
    probas: np.ndarray
    members: bool
    positions: np.ndarray
    _row_of: np.ndarray = field(repr=False, default=None)
    _uids: np.ndarray = field(repr=False, default=None)

    def _rows(self, positions: np.ndarray) -> np.ndarray:
        rows = self._row_of[positions]
        missing = positions[rows < 0]
        if missing.size:
            raise InvalidInputError(
                f"{self.source}: {missing.size} sample(s) the strategy must score have no row: "
                f"{_some(self._uids[missing])}; give a row for every unlabeled sample outside "
                "the evaluation set (e.g. run your model on the whole pool)."
            )
        return rows

    def check_covers(self, positions: np.ndarray) -> None:
        """Raise, naming some of them, when rows for ``positions`` are missing."""
        self._rows(np.asarray(positions, dtype=np.int64))

    def proba(self, positions: np.ndarray) -> np.ndarray:
        """(n, C) probabilities of feature rows ``positions`` (the mean over members)."""
        return self.probas[:, self._rows(positions)].mean(axis=0)

    def committee(self, positions: np.ndarray) -> np.ndarray:
        """(T, n, C) member probabilities of feature rows ``positions``."""
        return self.probas[:, self._rows(positions)]

    def describe(self) -> dict:
        """What a round records about the file."""
        t, n, c = self.probas.shape
        shape = [t, n, c] if self.members else [n, c]
        return {"file": self.source, "sha256": self.sha256, "format": self.fmt, "shape": shape}

    def note(self) -> str:
        return f"probabilities from {Path(self.source).name} (sha256 {self.sha256[:12]})"


def _some(uids) -> str:
    uids = [str(u) for u in uids]
    named = ", ".join(shorten(u, 40) for u in uids[:_NAMED])
    return named + (f" and {len(uids) - _NAMED} more" if len(uids) > _NAMED else "")


def read_external(
    source, project, sample_ids: np.ndarray, *, flag: str = "--proba"
) -> ExternalPredictions:
    """Read and check external probabilities for the project's feature rows ``sample_ids``.

    Parameters
    ----------
    source : str, Path or array-like
        A file (see the module docstring for the formats), or an array of shape
        ``(n, C)`` / ``(T, n, C)`` in the row order of an NPY file.
    project : Project
    sample_ids : ndarray of shape (n_rows,)
        Database ids of the feature rows (from ``load_features``), in order.
    flag : str
        What to call the source in messages (``--proba``, ``model.external``).

    Raises
    ------
    InvalidInputError
        Unknown format, unknown or duplicate ids, missing or unknown class
        columns, or values that are not probabilities; the message names them.
    """
    classes = [str(c) for c in project.classes()]
    sids, uids = project.sample_ids()
    n_rows = int(sample_ids.size)
    if isinstance(source, str | Path):
        path = Path(source)
        name = str(path)
        suffix = path.suffix.lower()
        if suffix not in EXTERNAL_FORMATS:
            raise InvalidInputError(
                f"{flag} {clip(name, 200)}: unknown extension {suffix or '(none)'!r}; give a "
                f"{', '.join(EXTERNAL_FORMATS)} file."
            )
        if not path.is_file():
            raise InvalidInputError(f"{flag} {clip(name, 200)}: file not found.")
        raw = path.read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        fmt = EXTERNAL_FORMATS[suffix]
    else:
        name, fmt, raw = "array", "array", None
        arr = np.asarray(source, dtype=np.float64)
        sha = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()
    uid_sid = dict(zip(uids.tolist(), sids.tolist(), strict=True))
    pos_of_sid = {int(s): i for i, s in enumerate(sample_ids.tolist())}
    feature_uids = np.asarray([None] * n_rows, dtype=object)
    sid_uid = dict(zip(sids.tolist(), uids.tolist(), strict=True))
    for i, s in enumerate(sample_ids.tolist()):
        feature_uids[i] = sid_uid.get(int(s), str(s))
    if fmt in ("npy", "array"):
        if fmt == "npy":
            arr = _load_npy(path, name, flag)
        p, members = _shape(arr, name, classes, n_rows, ids_given=False)
        where = [f"row {i}" for i in range(n_rows)]
        positions = np.arange(n_rows)
    else:
        if fmt == "npz":
            file_ids, arr = _load_npz(path, name, flag)
            p, members = _shape(arr, name, classes, len(file_ids), ids_given=True)
            where = [f"row {i} (id {shorten(u, 40)})" for i, u in enumerate(file_ids)]
        else:
            file_ids, where, table = _read_table(path, raw, fmt, name)
            p, members = _table_proba(table, where, name, classes), False
        positions = _match_ids(file_ids, where, name, uid_sid, pos_of_sid, project)
        keep = positions >= 0  # ids of samples without features: no candidate, left out
        p, positions = p[:, keep], positions[keep]
        where = [w for w, k in zip(where, keep.tolist(), strict=True) if k]
    p = _check_values(p, where, name, classes, members)
    row_of = np.full(n_rows, -1, dtype=np.int64)
    row_of[positions] = np.arange(positions.size)
    return ExternalPredictions(name, sha, fmt, p, members, positions, row_of, feature_uids)


def _load_npy(path: Path, name: str, flag: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise InvalidInputError(
            f"{flag} {clip(name, 200)}: not a numeric .npy array ({clip(str(e), 120)})."
        ) from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiub":
        raise InvalidInputError(f"{name}: holds {arr.dtype} values; save float probabilities.")
    return arr.astype(np.float64)


def _load_npz(path: Path, name: str, flag: str) -> tuple[list[str], np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("ids", "proba") if k not in z.files]
            if missing:
                raise InvalidInputError(
                    f"{name}: no array {missing[0]!r}; an .npz needs 'ids' (sample ids) and "
                    f"'proba' (shape (n, C) or (T, n, C)); it has {', '.join(z.files) or 'none'}."
                )
            ids, arr = z["ids"], z["proba"]
    except (ValueError, OSError) as e:
        raise InvalidInputError(
            f"{flag} {clip(name, 200)}: not a readable .npz without pickles ({clip(str(e), 120)})."
        ) from None
    if ids.ndim != 1:
        raise InvalidInputError(f"{name}: 'ids' must be 1-D, got shape {ids.shape}.")
    if arr.dtype.kind not in "fiub":
        raise InvalidInputError(f"{name}: 'proba' holds {arr.dtype} values; save floats.")
    return [normalize_id(v) for v in ids.tolist()], arr.astype(np.float64)


def _shape(arr, name, classes, n, *, ids_given: bool) -> tuple[np.ndarray, bool]:
    c = len(classes)
    rows = (
        "one row per id in 'ids'"
        if ids_given
        else (f"n = {n}, the samples in the order 'labelwise predict' writes them")
    )
    want = f"(n, C) or (T, n, C) with {rows} and C = {c} classes ({', '.join(classes)})"
    if arr.ndim not in (2, 3):
        raise InvalidInputError(f"{name}: shape {arr.shape}; expected {want}.")
    if arr.shape[-2] != n or arr.shape[-1] != c:
        raise InvalidInputError(f"{name}: shape {arr.shape}; expected {want}.")
    if arr.ndim == 3 and arr.shape[0] < 1:
        raise InvalidInputError(f"{name}: shape {arr.shape} has no members; expected {want}.")
    return (arr[None] if arr.ndim == 2 else arr), arr.ndim == 3


def _read_table(path: Path, raw: bytes, fmt: str, name: str):
    """(ids, where each row is, {column: values}) of a CSV, JSONL or Parquet file."""
    import pandas as pd

    if fmt == "csv":
        import io

        from labelwise.io._formats import unescape_cell

        try:
            df = pd.read_csv(
                io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8-sig"
            )
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
            raise InvalidInputError(f"{name}: not a readable CSV ({clip(str(e), 120)}).") from None
        cols = {str(c): df[c].tolist() for c in df.columns}
        if "id" in cols:
            cols["id"] = [unescape_cell(v) for v in cols["id"]]
        where = [f"line {i + 2}" for i in range(len(df))]
    elif fmt == "jsonl":
        cols, where = {}, []
        records = []
        for k, line in enumerate(raw.decode("utf-8-sig", errors="replace").splitlines()):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInputError(f"{name} line {k + 1}: not JSON ({e.msg}).") from None
            if not isinstance(rec, dict):
                raise InvalidInputError(f"{name} line {k + 1}: not a JSON object.")
            records.append(rec)
            where.append(f"line {k + 1}")
        for rec in records:
            for key in rec:
                cols.setdefault(str(key), None)
        for key in cols:
            cols[key] = [rec.get(key) for rec in records]
    else:
        import io

        try:
            df = pd.read_parquet(io.BytesIO(raw))
        except Exception as e:  # pyarrow raises several types for a bad file
            raise InvalidInputError(
                f"{name}: not a readable Parquet file ({clip(str(e), 120)})."
            ) from None
        cols = {str(c): df[c].tolist() for c in df.columns}
        where = [f"row {i + 1}" for i in range(len(df))]
    if "id" not in cols:
        raise InvalidInputError(
            f"{name}: no 'id' column; give the sample ids in a column named id, with one "
            "probability column per class."
        )
    ids = []
    for w, v in zip(where, cols.pop("id"), strict=True):
        if v is None or (isinstance(v, float) and np.isnan(v)) or normalize_id(v) == "":
            raise InvalidInputError(f"{name} {w}: empty id.")
        ids.append(normalize_id(v))
    return ids, where, cols


def _table_proba(cols: dict, where: list[str], name: str, classes: list[str]) -> np.ndarray:
    import pandas as pd

    known = set(classes)
    unknown = [
        k
        for k in cols
        if k not in _PREDICT_EXTRAS and k not in known and k.removeprefix("proba_") not in known
    ]
    column_of = {}
    for c in classes:
        have = [k for k in (c, f"proba_{c}") if k in cols]
        if len(have) == 2:
            raise InvalidInputError(
                f"{name}: class {shorten(c)} has two columns, {c!r} and 'proba_{c}'; keep one."
            )
        if not have:
            extra = f"; column {shorten(unknown[0])} is not a class" if unknown else ""
            raise InvalidInputError(
                f"{name}: no column for class {shorten(c)}{extra}; give one column per class, "
                f"named by the class or proba_<class> (classes: {', '.join(classes)})."
                + (did_you_mean(c, unknown) if unknown else "")
            )
        column_of[c] = have[0]
    if unknown:
        raise InvalidInputError(
            f"{name}: column {shorten(unknown[0])} is not a class of the project (classes: "
            f"{', '.join(classes)}); rename or drop it."
            + (f" ({len(unknown)} such columns)" if len(unknown) > 1 else "")
        )
    out = np.empty((1, len(where), len(classes)))
    for j, c in enumerate(classes):
        values = pd.to_numeric(pd.Series(cols[column_of[c]], dtype=object), errors="coerce")
        arr = values.to_numpy(dtype=np.float64)
        bad = np.flatnonzero(np.isnan(arr))
        if bad.size:
            i = int(bad[0])
            raise InvalidInputError(
                f"{name} {where[i]}: column {column_of[c]!r} holds "
                f"{shorten(cols[column_of[c]][i])}, not a probability."
            )
        out[0, :, j] = arr
    return out


def _match_ids(file_ids, where, name, uid_sid, pos_of_sid, project) -> np.ndarray:
    seen: dict[str, str] = {}
    for u, w in zip(file_ids, where, strict=True):
        if u in seen:
            raise InvalidInputError(
                f"{name} {w}: id {shorten(u, 40)} appears twice (first at {seen[u]}); give "
                "one row per sample."
            )
        seen[u] = w
    unknown = [u for u in file_ids if u not in uid_sid]
    if unknown:
        raise InvalidInputError(
            f"{name}: {len(unknown)} id(s) are not samples of {project.path}: "
            f"{_some(unknown)}; give the ids as imported."
        )
    return np.asarray([pos_of_sid.get(int(uid_sid[u]), -1) for u in file_ids], dtype=np.int64)


def _check_values(p, where, name, classes, members) -> np.ndarray:
    """Finite, within [0, 1], rows summing to 1; renormalised. Names the first bad row."""

    def at(t, i):
        return f"{name} {where[i]}" + (f", member {t}" if members else "")

    finite = np.isfinite(p).all(axis=2)
    if not finite.all():
        t, i = map(int, np.argwhere(~finite)[0])
        raise InvalidInputError(f"{at(t, i)}: NaN or infinite probability.")
    out_of = ((p < -1e-9) | (p > 1 + 1e-9)).any(axis=2)
    if out_of.any():
        t, i = map(int, np.argwhere(out_of)[0])
        j = int(np.flatnonzero((p[t, i] < -1e-9) | (p[t, i] > 1 + 1e-9))[0])
        raise InvalidInputError(
            f"{at(t, i)}: probability of {shorten(classes[j])} is {p[t, i, j]:g}, outside [0, 1]."
        )
    sums = p.sum(axis=2)
    off = np.abs(sums - 1.0) > _SUM_TOL
    if off.any():
        t, i = map(int, np.argwhere(off)[0])
        raise InvalidInputError(
            f"{at(t, i)}: probabilities sum to {sums[t, i]:.6g}, not 1 (tolerance {_SUM_TOL:g}); "
            "give one probability per class, summing to 1."
        )
    return np.clip(p, 0.0, 1.0) / np.clip(p, 0.0, 1.0).sum(axis=2, keepdims=True)


def score_external(project, source, *, flag: str = "model.external") -> tuple:
    """Accuracy of external probabilities on the labeled evaluation rows they cover.

    Returns ``(scores, predictions)``: the scores as :func:`score_on_eval` gives
    them (None when no labeled evaluation row has a row in the file) and the
    :class:`ExternalPredictions` read. The argmax of each row is the prediction;
    ``metric_ci`` is the Wilson 95 % interval, ``f1`` the macro-F1 with a
    bootstrap interval (as ``train`` reports for a model).
    """
    from labelwise.embed import load_features
    from labelwise.loop._evalset import eval_ids, score_on_eval

    X, ids, _ = load_features(project)
    ext = read_external(source, project, ids, flag=flag)
    mean = ext.probas.mean(axis=0)
    covered = {int(ids[i]) for i in ext.positions.tolist()}
    reserved = eval_ids(project) & covered
    classes = [str(c) for c in project.classes()]

    class _Fixed:  # predicts, for row positions, the file's argmax
        @staticmethod
        def predict(pos):
            rows = ext._row_of[np.asarray(pos, dtype=np.int64).ravel()]
            return np.asarray([classes[k] for k in mean[rows].argmax(axis=1)], dtype=object)

    positions = np.arange(ids.size)[:, None]
    ev = score_on_eval(_Fixed(), positions, ids, project.current_labels(), reserved, classes)
    return ev, ext


def finish_external_rounds(project, source, *, flag: str = "model.external") -> dict | None:
    """Score every unscored round whose picks are all labeled with the external file.

    The pipeline's stand-in for ``train`` when ``model: {external: FILE}``: each
    such round gets the file's accuracy on the labeled evaluation rows (Wilson
    interval, macro-F1, per-item hits), so the learning curve and the stopping
    rules read it like a trained model's. Returns the scores (None without
    evaluation labels covered by the file).
    """
    from labelwise.loop._evalset import eval_ids, training_labels
    from labelwise.loop._project import ROUND_KEYS, _pack_hits, _split_retired, ready_rounds
    from labelwise.store import transaction
    from labelwise.store._models import Event

    ev, ext = score_external(project, source, flag=flag)
    labels = project.current_labels()
    n_train = len(_split_retired(project, training_labels(project, eval_ids(project), labels))[0])
    info = {
        "metric_ci": ev["metric_ci"] if ev else None,
        "f1": ev["f1"] if ev else None,
        "f1_ci": ev["f1_ci"] if ev else None,
        "n_eval": ev["n_eval"] if ev else 0,
        "n_labeled": n_train,
        "note": None if ev else "no labeled evaluation row in the external file",
    }
    with transaction(project.session) as s:
        for rnd in ready_rounds(s, labels):
            rnd.metric = ev["metric"] if ev else None
            rnd.metric_name = "eval_accuracy" if ev else None
            rnd.note = f"scored by {ext.note()}"
            rnd.info = {
                **{k: v for k, v in (rnd.info or {}).items() if k == "external"},
                "scored_external": ext.describe(),
                **{k: info.get(k) for k in ROUND_KEYS},
                "hits": _pack_hits(ev["hits"] if ev else None),
            }
        s.add(
            Event(
                kind="external.score",
                payload={
                    "external": ext.describe(),
                    "metric": ev["metric"] if ev else None,
                    "n_eval": info["n_eval"],
                },
            )
        )
    return None if ev is None else {k: v for k, v in ev.items() if k != "hits"}
