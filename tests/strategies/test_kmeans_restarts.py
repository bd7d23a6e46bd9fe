"""Every k-means selector finds three well-separated blobs, on every one of 50 seeds.

A single k-means++ draw sometimes seeds two centres in one blob; Lloyd then merges
two blobs and splits the third. Restarts (keeping the lowest inertia) fix that.
The references here are the blobs themselves, not the clustering under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from labelwise.strategies import (
    cluster_density,
    kmeans_equal,
    kmeans_proportional,
    representativeness,
)
from labelwise.strategies._neighbors import kmeans

SEEDS = range(50)
CENTRES = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]


def _blobs(seed, sizes=(100, 100, 100)):
    X, y = make_blobs(n_samples=list(sizes), centers=CENTRES, cluster_std=1.0, random_state=seed)
    return X.astype(np.float32), y


def test_blobs_are_well_separated():
    # the premise: every point is nearer its own blob's mean than any other blob's mean
    for seed in SEEDS:
        X, y = _blobs(seed)
        means = np.stack([X[y == c].mean(axis=0) for c in range(3)])
        d = np.linalg.norm(X[:, None, :] - means[None], axis=2)
        assert (d.argmin(axis=1) == y).all()


def _one_cluster_per_blob(assign, y):
    per_blob = [np.unique(assign[y == c]) for c in range(3)]
    return all(p.size == 1 for p in per_blob) and len({int(p[0]) for p in per_blob}) == 3


@pytest.mark.parametrize("sizes", [(100, 100, 100), (300, 60, 60), (10, 10, 10)])
def test_kmeans_finds_each_blob_on_every_seed(sizes):
    bad = []
    for seed in SEEDS:
        X, y = _blobs(seed, sizes)
        assign, _ = kmeans(X, 3, np.random.default_rng(seed))
        if not _one_cluster_per_blob(assign, y):
            bad.append(seed)
    assert bad == []


def test_kmeans_equal_one_pick_per_blob_on_every_seed():
    bad = []
    for seed in SEEDS:
        X, y = _blobs(seed)
        got = kmeans_equal(X, batch_size=3, n_clusters=3, random_state=seed)
        if sorted(y[got].tolist()) != [0, 1, 2]:
            bad.append(seed)
    assert bad == []


def test_kmeans_proportional_one_pick_per_blob_on_every_seed():
    bad = []
    for seed in SEEDS:
        X, y = _blobs(seed)
        scores = np.random.default_rng(seed).random(X.shape[0])
        got = kmeans_proportional(scores, X, batch_size=3, n_clusters=3, random_state=seed)
        if sorted(y[got].tolist()) != [0, 1, 2]:
            bad.append(seed)
    assert bad == []


def test_representativeness_one_centre_per_blob_on_every_seed():
    # the sample nearest each cluster's centre scores exactly 1: one per blob
    bad = []
    for seed in SEEDS:
        X, y = _blobs(seed)
        s = representativeness(X, n_clusters=3, random_state=seed)
        if sorted(y[s == 1.0].tolist()) != [0, 1, 2]:
            bad.append(seed)
    assert bad == []


def test_cluster_density_uses_the_blobs_on_every_seed():
    # with the blobs as clusters: score = (n_blob / n) / (1 + distance to the blob's mean)
    bad = []
    for seed in SEEDS:
        X, y = _blobs(seed)
        X64 = X.astype(np.float64)
        want = np.empty(X.shape[0])
        for c in range(3):
            m = y == c
            want[m] = m.mean() / (1.0 + np.linalg.norm(X64[m] - X64[m].mean(axis=0), axis=1))
        got = cluster_density(X, n_clusters=3, random_state=seed)
        if not np.allclose(got, want, rtol=1e-4):
            bad.append(seed)
    assert bad == []
