"""Selection per group (e.g. per video): a quota for each group, any strategy inside it.

:func:`group_quotas` turns ``n_per_group`` (a count) or ``proportion`` (a fraction of
each group's candidates, rounded half up) into a quota per group, capped by what the
group has. :func:`query_by_group` then runs one registered strategy inside every
group with a quota: the candidates, and every array aligned with them in the
:class:`~labelwise.strategies.QueryContext` (``proba``, ``probas``, ``predictions``,
``std``, ``cost``), are cut down to the group; ``X`` and the labeled set stay whole,
so diversity (``k_center_greedy``), novelty and class balance are measured inside
the group against everything labeled. The picks of all groups are merged round-robin
(the best of each group first), and each reason says which group it came from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from labelwise.errors import EmptyPoolError, InvalidInputError
from labelwise.strategies._registry import Pick, QueryContext, Selection, Strategy

__all__ = ["group_quotas", "query_by_group", "GroupSelection"]

#: Context fields aligned with the candidates, and the axis that runs over them.
_ALIGNED = {"proba": 0, "std": 0, "cost": 0, "probas": 1, "predictions": 1}
_WHOLE = {"candidates", "labeled", "X", "model", "y_labeled", "n_classes"}


def group_quotas(
    groups: Sequence[Hashable],
    *,
    n_per_group: int | None = None,
    proportion: float | None = None,
) -> dict:
    """How many to pick from each group: a count, or a fraction of its members.

    Parameters
    ----------
    groups : sequence of hashable, shape (n_candidates,)
        The group of each candidate.
    n_per_group : int, optional
        Pick this many from every group (all of a smaller group).
    proportion : float, optional
        Pick ``floor(proportion * n_g + 0.5)`` from a group of ``n_g`` candidates.

    Returns
    -------
    quotas : dict of group to int
        In order of first appearance.

    Examples
    --------
    >>> group_quotas(["a", "a", "a", "b"], n_per_group=2)
    {'a': 2, 'b': 1}
    >>> group_quotas(["a"] * 10 + ["b"] * 5, proportion=0.3)
    {'a': 3, 'b': 2}
    """
    if (n_per_group is None) == (proportion is None):
        raise InvalidInputError("give one of n_per_video (a count) or proportion (a fraction).")
    if n_per_group is not None and (isinstance(n_per_group, bool) or int(n_per_group) < 1):
        raise InvalidInputError(f"--n-per-video must be at least 1, got {n_per_group}.")
    if proportion is not None and not 0.0 < float(proportion) <= 1.0:
        raise InvalidInputError(f"--proportion must be within (0, 1], got {proportion}.")
    sizes: dict = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    if n_per_group is not None:
        return {g: min(int(n_per_group), n) for g, n in sizes.items()}
    # rounded half up, in exact decimal terms: 0.3 * 5 = 1.5 -> 2
    from decimal import ROUND_HALF_UP, Decimal

    share = Decimal(str(proportion))
    return {
        g: int((share * n).quantize(Decimal(1), rounding=ROUND_HALF_UP)) for g, n in sizes.items()
    }


def _sub_context(ctx: QueryContext, mask: np.ndarray) -> QueryContext:
    changes = {"candidates": ctx.candidates[mask]}
    n = ctx.candidates.size
    for f in dataclasses.fields(ctx):
        value = getattr(ctx, f.name)
        if f.name in _WHOLE or value is None:
            continue
        axis = _ALIGNED.get(f.name)
        if axis is None:  # a field added later: cut it when it runs over the candidates
            if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == n:
                changes[f.name] = value[mask]
            continue
        arr = np.asarray(value)
        changes[f.name] = arr[mask] if axis == 0 else arr[:, mask]
    return dataclasses.replace(ctx, **changes)


@dataclass
class GroupSelection:
    """Selections made inside groups, merged round-robin; shaped like a :class:`Selection`.

    Attributes
    ----------
    strategy : str
    parts : list of (group, Selection, n_candidates)
    label : str
        What a group is, for the reasons (``"video"``).
    note : str
        Appended to every reason (e.g. cold start).
    """

    strategy: str
    parts: list
    label: str = "group"
    note: str = ""

    @property
    def criteria(self) -> Mapping[str, np.ndarray]:
        """The criteria of the first group's selection (the same names in every group)."""
        return self.parts[0][1].criteria if self.parts else {}

    @property
    def skipped(self) -> np.ndarray:
        """Candidates a strategy left out in any group (e.g. images without detections)."""
        parts = [np.asarray(getattr(sel, "skipped", ()), dtype=np.intp) for _, sel, _ in self.parts]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.intp)

    @property
    def indices(self) -> np.ndarray:
        """Absolute pool indices of every pick, in pick order."""
        return np.asarray([p.index for p in self.picks()], dtype=np.intp)

    def picks(self) -> list[Pick]:
        """Each group's picks (ranked inside its group), taken one per group in turn."""
        per_group = []
        for group, sel, n in self.parts:
            if self.note:
                sel.note = self.note
            q = sel.indices.size
            per_group.append(
                [
                    (p, f"{self.label} {group}: pick {k + 1} of {q} from its {n} candidates")
                    for k, p in enumerate(sel.picks())
                ]
            )
        out: list[Pick] = []
        depth = 0
        while any(depth < len(g) for g in per_group):
            for g in per_group:
                if depth < len(g):
                    p, where = g[depth]
                    out.append(
                        dataclasses.replace(p, position=len(out), reason=f"{p.reason}; {where}")
                    )
            depth += 1
        return out


def query_by_group(
    strategy: Strategy,
    ctx: QueryContext,
    groups: Sequence[Hashable],
    quotas: Mapping,
    random_state=None,
    *,
    label: str = "group",
) -> GroupSelection:
    """Run ``strategy`` inside every group for its quota; merge the picks.

    Parameters
    ----------
    strategy : Strategy
    ctx : QueryContext
    groups : sequence of hashable, shape (n_candidates,)
        The group of each candidate in ``ctx.candidates``.
    quotas : mapping of group to int
        How many to pick from each group (see :func:`group_quotas`).
    random_state : int, Generator or None
        Seeds one independent stream per group (in the order of ``quotas``).
    label : str, default="group"
        What a group is, for the reasons.

    Returns
    -------
    GroupSelection

    Examples
    --------
    >>> from labelwise.strategies import get_strategy
    >>> proba = np.array([[0.5, 0.5], [0.9, 0.1], [0.6, 0.4], [0.99, 0.01]])
    >>> ctx = QueryContext(candidates=np.arange(4), proba=proba)
    >>> sel = query_by_group(get_strategy("margin"), ctx, ["a", "a", "b", "b"], {"a": 1, "b": 1})
    >>> [p.index for p in sel.picks()]
    [0, 2]
    """
    g = np.asarray(list(groups), dtype=object)
    if g.shape[0] != ctx.candidates.size:
        raise InvalidInputError(
            f"groups has {g.shape[0]} entries for {ctx.candidates.size} candidates."
        )
    seeds = np.random.default_rng(random_state).integers(0, 2**63 - 1, size=max(len(quotas), 1))
    parts: list[tuple[object, Selection, int]] = []
    for seed, (group, q) in zip(seeds.tolist(), quotas.items(), strict=False):
        mask = g == group
        n = int(mask.sum())
        if q <= 0 or n == 0:
            continue
        parts.append((group, strategy.query(_sub_context(ctx, mask), int(q), seed), n))
    if not parts:
        raise EmptyPoolError(f"every {label}'s quota is 0: nothing to select.")
    name = parts[0][1].strategy
    return GroupSelection(name, parts, label)
