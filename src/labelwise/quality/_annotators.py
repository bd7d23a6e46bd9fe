"""Per-annotator quality: gold accuracy, throughput, agreement and drift flags."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelwise.errors import InvalidInputError
from labelwise.quality._agreement import _pairwise
from labelwise.quality._records import check_gold, check_int, check_records, latest_votes

__all__ = ["gold_accuracy", "annotator_report"]

#: A pause longer than this between two labels is a break, not labelling time.
BREAK_SECONDS = 30 * 60
#: Second-half median time per label above this multiple of the first half's = slowed down.
SLOWDOWN_RATIO = 1.5
#: Agreement lower by at least this much in the second half = dropped.
DROP_MIN = 0.15
#: Each half of a round needs at least this many timed / comparable labels for a drift flag.
MIN_HALF = 5
_EPS = 1e-9
_REPORT_COLUMNS = ("sample", "annotator", "value", "created_at", "duration", "round", "gold")


def gold_accuracy(records, gold) -> dict[str, dict]:
    """Each annotator's accuracy on gold (control) samples.

    Every gold row counts, so an annotator shown the same gold sample twice is
    checked twice.

    Parameters
    ----------
    records : pandas.DataFrame
        One row per label, with columns ``sample``, ``annotator``, ``value`` and ``gold``;
        rows with ``gold=True`` are the annotator's answers to gold samples.
    gold : dict
        Gold sample -> correct value (compared as strings with ``value``).

    Returns
    -------
    accuracy : dict
        Annotator -> ``{"n": int, "correct": int, "accuracy": float}``, for the annotators
        with at least one gold row, in name order.

    Raises
    ------
    InvalidInputError
        If a column is missing, or a gold row's sample has no entry in ``gold``.

    Examples
    --------
    >>> import pandas as pd
    >>> records = pd.DataFrame({
    ...     "sample": ["g1", "g2", "g1", "s9"],
    ...     "annotator": ["ann", "ann", "bob", "bob"],
    ...     "value": ["cat", "cat", "dog", "dog"],
    ...     "gold": [True, True, True, False],
    ... })
    >>> gold_accuracy(records, {"g1": "cat", "g2": "dog"})
    {'ann': {'n': 2, 'correct': 1, 'accuracy': 0.5}, 'bob': {'n': 1, 'correct': 0, 'accuracy': 0.0}}
    """
    df = check_records(records)
    answers = check_gold(gold, df)
    return _gold_accuracy(df, answers)


def _gold_correct(df: pd.DataFrame, answers: dict[str, str]) -> pd.Series:
    """Per gold row: True when the value is the correct one (index of ``df``'s gold rows)."""
    g = df[df["gold"]]
    return g["value"] == g["sample"].map(answers)


def _gold_accuracy(df: pd.DataFrame, answers: dict[str, str]) -> dict[str, dict]:
    correct = _gold_correct(df, answers)
    by = correct.groupby(df.loc[correct.index, "annotator"]).agg(["size", "sum"])
    return {
        str(a): {"n": int(n), "correct": int(c), "accuracy": float(c / n)}
        for a, (n, c) in by.sort_index().iterrows()
    }


def _agreement_with_others(df: pd.DataFrame) -> pd.Series:
    """Per non-gold vote: 1.0/0.0 = agrees/disagrees with the other annotators' majority.

    The majority leaves the annotator out; NaN where no other annotator labelled the
    sample or the others tie. Indexed like ``df`` (superseded labels are NaN).
    """
    votes = latest_votes(df)
    out = pd.Series(np.nan, index=df.index)
    if votes.empty:
        return out
    s_codes, _ = pd.factorize(votes["sample"])
    v_codes, v_uniques = pd.factorize(votes["value"])
    counts = np.zeros((s_codes.max() + 1, len(v_uniques)), dtype=np.int64)
    np.add.at(counts, (s_codes, v_codes), 1)
    others = counts[s_codes]
    others[np.arange(len(votes)), v_codes] -= 1
    top = others.max(axis=1)
    unique_top = (others == top[:, None]).sum(axis=1) == 1
    comparable = (top > 0) & unique_top
    agree = (others.argmax(axis=1) == v_codes).astype(np.float64)
    out.loc[votes.index] = np.where(comparable, agree, np.nan)
    return out


def _label_times(group: pd.DataFrame) -> tuple[np.ndarray, str | None]:
    """Seconds spent on each label of one annotator (time order) and the basis used.

    ``duration`` when the annotator has any known duration (labels without one are
    untimed); else the gap since their previous label, untimed after a break.
    """
    dur = group["duration"].to_numpy(dtype=np.float64)
    if np.isfinite(dur).any():
        return dur, "duration"
    t = group["created_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
    gaps = np.concatenate([[np.nan], np.diff(t)])
    gaps[gaps > BREAK_SECONDS] = np.nan
    if not np.isfinite(gaps).any():
        return gaps, None
    return gaps, "timestamps"


def _halves(n: int) -> tuple[slice, slice]:
    return slice(0, n // 2), slice(n // 2, n)


def _round_name(r: float) -> str:
    return str(int(r)) if float(r).is_integer() else f"{r:g}"


def _drift_flags(group: pd.DataFrame, times: np.ndarray) -> list[str]:
    flags = []
    rounds = group["round"].to_numpy(dtype=np.float64)
    for r in np.unique(rounds[np.isfinite(rounds)]):
        in_round = np.flatnonzero(rounds == r)
        first, second = _halves(len(in_round))
        halves = (in_round[first], in_round[second])
        name = _round_name(r)

        t1, t2 = (times[h][np.isfinite(times[h])] for h in halves)
        if len(t1) >= MIN_HALF and len(t2) >= MIN_HALF:
            m1, m2 = float(np.median(t1)), float(np.median(t2))
            if m2 > SLOWDOWN_RATIO * m1:
                flags.append(
                    f"slowed down in round {name}: median {m2:.1f} s/label in the second half "
                    f"vs {m1:.1f} s in the first"
                )

        for col, what in (
            ("_gold_ok", "gold accuracy"),
            ("_agrees", "agreement with other annotators"),
        ):
            values = group[col].to_numpy(dtype=np.float64)
            a1, a2 = (values[h][np.isfinite(values[h])] for h in halves)
            if len(a1) >= MIN_HALF and len(a2) >= MIN_HALF:
                m1, m2 = float(a1.mean()), float(a2.mean())
                if m1 - m2 >= DROP_MIN - _EPS:
                    flags.append(
                        f"agreement dropped in round {name}: {what} {m2:.2f} in the second "
                        f"half vs {m1:.2f} in the first"
                    )
    return flags


def annotator_report(
    records,
    gold,
    *,
    accuracy_min: float = 0.9,
    kappa_min: float = 0.8,
    min_gold: int = 5,
    min_overlap: int = 5,
) -> list[dict]:
    """One summary per annotator, with human-readable flags for the quality page.

    Parameters
    ----------
    records : pandas.DataFrame
        One row per label, with columns ``sample``, ``annotator``, ``value``,
        ``created_at`` (datetimes), ``duration`` (seconds or NaN), ``round`` (number or
        NaN), ``gold`` (bool) and optionally ``unsure`` (bool).
    gold : dict
        Gold sample -> correct value.
    accuracy_min : float, default=0.9
        Flag gold accuracy below this (only with at least ``min_gold`` gold answers).
    kappa_min : float, default=0.8
        Flag every partner with whom Cohen's kappa is below this.
    min_gold : int, default=5
        Gold answers needed before the accuracy flag can fire.
    min_overlap : int, default=5
        Shared non-gold samples needed to compute kappa with a partner
        (see :func:`pairwise_kappa`).

    Returns
    -------
    report : list of dict
        One dict per annotator, in name order, with keys

        - ``annotator``, ``n_labels`` (all rows, gold included), ``n_gold``;
        - ``gold_correct``, ``gold_accuracy`` (None without gold rows);
        - ``mean_kappa`` (mean Cohen's kappa with the ``n_kappa_partners`` partners
          sharing ``min_overlap`` samples; None without any);
        - ``labels_per_hour``, ``active_hours`` and ``rate_basis``: labels over active
          time. ``"duration"`` when the annotator has any known ``duration``: labels
          with a duration over the sum of their durations. Else ``"timestamps"``: each
          label is timed by the gap since the annotator's previous label, gaps over
          30 min are breaks and leave that label untimed, and the rate is timed labels
          over the sum of their gaps. None (all three) when nothing can be timed;
        - ``n_unsure`` (count of ``unsure`` rows; None without that column);
        - ``flags``: list of strings, e.g. ``"accuracy 0.82 on 11 gold samples is below
          0.90"``, ``"kappa 0.61 with bob is below 0.80"``, ``"slowed down in round 3:
          median 9.1 s/label in the second half vs 4.0 s in the first"``,
          ``"agreement dropped in round 3: gold accuracy 0.60 in the second half vs 1.00
          in the first"``.

    Notes
    -----
    Drift is checked within each round: the annotator's labels in the round, in time
    order, are split into a first half and a second half (the second gets the odd one).
    *Slowed down*: the median time per label (timed as for ``rate_basis``) in the second
    half is more than 1.5 times the first half's, each half with at least 5 timed labels.
    *Agreement dropped*: gold accuracy, or agreement with the majority of the *other*
    annotators on the same sample (samples where the others tie are skipped), is lower
    by at least 0.15 in the second half, each half with at least 5 such labels.

    Examples
    --------
    >>> import pandas as pd
    >>> t0 = pd.Timestamp("2024-05-01 09:00", tz="UTC")
    >>> records = pd.DataFrame({
    ...     "sample": [f"g{i % 2}" for i in range(6)],
    ...     "annotator": "ann",
    ...     "value": ["cat", "dog", "cat", "cat", "dog", "dog"],
    ...     "created_at": [t0 + pd.Timedelta(seconds=10 * i) for i in range(6)],
    ...     "duration": 10.0,
    ...     "round": 1,
    ...     "gold": True,
    ... })
    >>> (r,) = annotator_report(records, {"g0": "cat", "g1": "dog"})
    >>> r["gold_correct"], r["labels_per_hour"], r["rate_basis"]
    (4, 360.0, 'duration')
    >>> r["flags"]
    ['accuracy 0.67 on 6 gold samples is below 0.90']
    """
    for name, value in (("accuracy_min", accuracy_min), ("kappa_min", kappa_min)):
        if not isinstance(value, int | float) or not np.isfinite(value):
            raise InvalidInputError(f"{name} must be a finite number; got {value!r}.")
    min_gold = check_int(min_gold, "min_gold", minimum=1)
    min_overlap = check_int(min_overlap, "min_overlap", minimum=1)
    df = check_records(records, required=_REPORT_COLUMNS)
    answers = check_gold(gold, df)

    accuracy = _gold_accuracy(df, answers)
    pairs = _pairwise(latest_votes(df), min_overlap)
    partners: dict[str, list[tuple[str, float]]] = {}
    for p in pairs:
        partners.setdefault(p["a"], []).append((p["b"], p["kappa"]))
        partners.setdefault(p["b"], []).append((p["a"], p["kappa"]))

    df["_gold_ok"] = np.nan
    ok = _gold_correct(df, answers)
    df.loc[ok.index, "_gold_ok"] = ok.astype(np.float64)
    df["_agrees"] = _agreement_with_others(df)

    report = []
    for annotator, group in df.groupby("annotator", sort=True):
        times, basis = _label_times(group)
        timed = np.isfinite(times)
        seconds = float(times[timed].sum())
        rate = float(timed.sum() / seconds * 3600) if basis and seconds > 0 else None
        acc = accuracy.get(annotator)
        kappas = sorted(partners.get(annotator, []))
        flags = []
        if acc and acc["n"] >= min_gold and acc["accuracy"] < accuracy_min:
            flags.append(
                f"accuracy {acc['accuracy']:.2f} on {acc['n']} gold samples is below "
                f"{accuracy_min:.2f}"
            )
        for other, k in kappas:
            if k < kappa_min:
                flags.append(f"kappa {k:.2f} with {other} is below {kappa_min:.2f}")
        flags += _drift_flags(group, times)
        report.append(
            {
                "annotator": str(annotator),
                "n_labels": len(group),
                "n_gold": int(group["gold"].sum()),
                "gold_correct": acc["correct"] if acc else None,
                "gold_accuracy": acc["accuracy"] if acc else None,
                "mean_kappa": float(np.mean([k for _, k in kappas])) if kappas else None,
                "n_kappa_partners": len(kappas),
                "labels_per_hour": rate,
                "active_hours": seconds / 3600 if rate is not None else None,
                "rate_basis": basis if rate is not None else None,
                "n_unsure": int(group["unsure"].sum()) if "unsure" in group else None,
                "flags": flags,
            }
        )
    return report
