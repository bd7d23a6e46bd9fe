"""A stored project as a benchmark data set: ``bench --project`` and ``recommend --project``.

X is the project's newest features (``labelwise embed``), y its accepted labels of active
classes. The evaluation-set labels are ordinary rows here: the benchmark simulates from
scratch with its own random test split, so the project's evaluation set has no special
role. Labels of retired classes and of samples the features do not cover (imported after
the last ``embed``) are left out and counted. The project is only read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelwise.errors import InvalidInputError
from labelwise.io import Dataset
from labelwise.store import Project

__all__ = ["ProjectSource", "project_dataset"]


@dataclass
class ProjectSource:
    """What a replay of a project used: shown to the user and stored in results.json."""

    project: str
    features_version: int
    features_method: str
    n_labels: int
    n_retired: int
    n_without_features: int

    def line(self) -> str:
        """One line naming the project, its features and the labels used."""
        left = []
        if self.n_retired:
            left.append(f"{self.n_retired} of retired classes")
        if self.n_without_features:
            left.append(f"{self.n_without_features} of samples without features")
        why = f" ({', '.join(left)} left out)" if left else ""
        return (
            f"project {self.project}: features v{self.features_version} "
            f"({self.features_method}), {self.n_labels} labels{why}"
        )


def _min_rows(initial: int, test_size: float) -> int:
    """The fewest rows whose pool/test split leaves ``max(initial, 2)`` in the pool and 1 test."""
    need = max(initial, 2)
    n = need + 1
    while (
        int(math.floor(n * (1.0 - test_size) + 1e-9)) < need
        or n - math.floor(n * (1.0 - test_size) + 1e-9) < 1
    ):
        n += 1
    return n


def project_dataset(
    path: str | Path, *, initial: int = 20, test_size: float = 0.4
) -> tuple[Dataset, ProjectSource]:
    """The labeled rows of a classification project as a :class:`~labelwise.io.Dataset`.

    Parameters
    ----------
    path : str or Path
        The project folder.
    initial : int, default=20
        The benchmark's initial labeled set; with ``test_size`` it sets how many labels
        the project needs.
    test_size : float, default=0.4
        The benchmark's test share.

    Returns
    -------
    dataset : Dataset
        ``X`` of shape (n_labels, n_features): the newest features of the labeled
        samples, in database-id order; ``y``: their class names.
    source : ProjectSource

    Raises
    ------
    InvalidInputError
        The project has no features, is not a classification project, has fewer than
        2 labeled classes or too few labels for ``initial`` and ``test_size``.
    """
    from labelwise.embed import load_features

    path = Path(path)
    project = Project.open(path)
    try:
        task = project.task
        if task != "classification":
            raise InvalidInputError(
                f"--project {path} is a {task} project; --project replays classification "
                "projects only (export its labels and use --data for the others)."
            )
        art = project.latest_artifact("features")
        if art is None:
            raise InvalidInputError(
                f"project {path} has no features yet; run 'labelwise embed {path}' first."
            )
        X, ids, version = load_features(project)
        method = str((art.info or {}).get("method", "unknown"))
        labels = project.current_labels()
        active = set(project.classes())
    finally:
        project.close()
    kept = {sid: v for sid, v in labels.items() if v in active}
    n_retired = len(labels) - len(kept)
    label_ids = np.fromiter(kept, dtype=np.int64, count=len(kept))
    pos = np.flatnonzero(np.isin(ids, label_ids))
    y = np.asarray([kept[int(ids[p])] for p in pos], dtype=object).astype(str)
    source = ProjectSource(
        project=str(path),
        features_version=int(version),
        features_method=method,
        n_labels=int(pos.size),
        n_retired=n_retired,
        n_without_features=len(kept) - int(pos.size),
    )
    more = f"label more with 'labelwise select {path}' and 'labelwise labels {path} import'" + (
        f", or run 'labelwise embed {path}' again" if source.n_without_features else ""
    )
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        which = f" (only {classes[0]!r})" if classes.size else ""
        raise InvalidInputError(
            f"project {path} has labels of {classes.size} active class(es){which} among its "
            f"featured samples; the benchmark needs at least 2: {more}."
        )
    if 0.0 < test_size < 1.0:
        need = _min_rows(initial, test_size)
        if y.size < need:
            raise InvalidInputError(
                f"project {path} has {y.size} usable labels; --initial {initial} with "
                f"--test-size {test_size:g} needs at least {need}: {more}, or lower --initial."
            )
    rare = [str(c) for c, k in zip(classes, counts, strict=True) if k < 2]
    if rare:
        raise InvalidInputError(
            f"project {path}: class(es) {rare[:5]} have a single label; the benchmark needs 2 "
            f"per class (one may land in the test split): {more}."
        )
    ds = Dataset(
        X=np.asarray(X[pos], dtype=np.float64),
        y=y,
        name=f"project {path.resolve().name}",
        feature_names=[f"f{j}" for j in range(X.shape[1])],
    )
    return ds, source
