"""kNN building block: exact against sklearn, approximate against exact."""

import numpy as np
from sklearn.neighbors import NearestNeighbors

from labelwise.strategies._neighbors import knn_search


def test_exact_matches_sklearn():
    X = np.random.default_rng(0).normal(size=(500, 6))
    d, i = knn_search(X, X, 5, exclude_self=True, exact=True)
    nd, ni = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X)
    assert np.allclose(d, nd[:, 1:], atol=1e-4) and (i == ni[:, 1:]).mean() > 0.999


def test_approximate_search_recalls_nearly_every_neighbour_on_clustered_data():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, 8)) * 5
    X = centres[rng.integers(0, 30, 8000)] + rng.normal(size=(8000, 8))
    d_apx, i_apx = knn_search(X, X, 10, exclude_self=True, exact=False)
    d_ex, i_ex = knn_search(X, X, 10, exclude_self=True, exact=True)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i_apx, i_ex, strict=True)])
    assert recall > 0.95
    # distances found are never shorter than the true k nearest (it is a subset search)
    assert (d_apx.mean(axis=1) >= d_ex.mean(axis=1) - 1e-4).all()
    assert np.mean(d_apx.mean(axis=1) / d_ex.mean(axis=1)) < 1.02
