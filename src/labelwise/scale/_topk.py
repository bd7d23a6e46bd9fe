"""Exact top-k over a partitioned pool: the best rows of each part, then a merge.

Rows are ordered by score, highest first, and equal scores by id, smallest first:
a total order when ids are unique. The k best rows of the pool under that order
are among the k best of every part that holds them, so keeping k rows per part
and merging gives exactly the pool's top k, whatever the partition (shards,
batches, Ray blocks) and whatever order the parts arrive in.
"""

from __future__ import annotations

import numpy as np

from labelwise.errors import InvalidInputError, shorten

__all__ = ["ranked", "best_rows", "TopK"]


def ranked(ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Positions sorted best first: score descending, then id ascending."""
    by_id = np.argsort(ids, kind="stable")
    return by_id[np.argsort(-scores[by_id], kind="stable")]


def best_rows(ids: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best rows, best first. O(n) plus a sort of the winners and ties."""
    n = scores.shape[0]
    if n > k:
        kth = np.partition(scores, n - k)[n - k]  # the k-th largest score
        keep = np.flatnonzero(scores >= kth)  # the winners and every row tied with the last
    else:
        keep = np.arange(n)
    return keep[ranked(ids[keep], scores[keep])][:k]


class TopK:
    """The running top ``k`` of rows that arrive part by part (memory O(k + one part))."""

    def __init__(self, k: int):
        self.k = int(k)
        self.ids: np.ndarray | None = None
        self.scores = np.empty(0)

    def add(self, ids: np.ndarray, scores: np.ndarray) -> None:
        """Merge a part's rows (any number; only the best ``k`` are kept)."""
        if self.ids is None:
            self.ids = ids[:0]
        elif ids.dtype.kind != self.ids.dtype.kind:
            raise InvalidInputError("the shards hold ids of different types (integers, strings).")
        ids = np.concatenate([self.ids, ids])
        scores = np.concatenate([self.scores, np.asarray(scores, dtype=np.float64)])
        pos = best_rows(ids, scores, self.k)
        self.ids, self.scores = ids[pos], scores[pos]

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) best first; refuses a pool whose top rows repeat an id."""
        ids = self.ids if self.ids is not None else np.empty(0, dtype=np.int64)
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise InvalidInputError(
                f"id {shorten(uniq[counts > 1][0].item())} appears in more than one row of the "
                "shards; ids must be unique over the whole pool."
            )
        return ids, self.scores
