"""The report's exact t-SNE: calibrated perplexities, the exact gradient, separated clusters kept apart."""

from __future__ import annotations

import numpy as np
import pytest

from mgmrn.viz.report.tsne import (conditional_probabilities, joint_probabilities, kl_gradient, pca,
                                   squared_distances, tsne)


def blobs(classes: int = 6, per_class: int = 15, dims: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    return rng.normal(0, 6, (classes, dims))[labels] + rng.normal(0, 1, (len(labels), dims)), labels


@pytest.mark.parametrize("perplexity", [5.0, 20.0])
def test_each_row_has_the_asked_perplexity(perplexity):
    x, _ = blobs()
    p = conditional_probabilities(squared_distances(x) / 100, perplexity)
    assert np.allclose(p.sum(1), 1) and np.all(np.diag(p) == 0)
    logs = np.log2(np.where(p > 0, p, 1.0))
    assert 2 ** -(p * logs).sum(1) == pytest.approx(np.full(len(x), perplexity), rel=1e-4)


def test_the_gradient_is_the_derivative_of_the_kl_divergence():
    x, _ = blobs(classes=3, per_class=5)
    p = joint_probabilities(x, 4.0)
    assert p.sum() == pytest.approx(1.0) and np.allclose(p, p.T)
    y = np.random.default_rng(1).normal(0, 1, (len(x), 2))
    _, grad = kl_gradient(p, y)
    step = 1e-6
    for i, j in [(0, 0), (3, 1), (14, 0)]:
        up, down = y.copy(), y.copy()
        up[i, j] += step
        down[i, j] -= step
        numeric = (kl_gradient(p, up)[0] - kl_gradient(p, down)[0]) / (2 * step)
        assert grad[i, j] == pytest.approx(numeric, rel=1e-4, abs=1e-8)


def test_separated_clusters_stay_apart_and_the_embedding_is_seeded():
    x, labels = blobs()
    y = tsne(x, perplexity=10)
    d = squared_distances(y)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).mean() == 1.0  # each point's nearest neighbour is of its class
    assert np.array_equal(y, tsne(x, perplexity=10)) and tsne(x[:2]).shape == (2, 2)


def test_pca_projects_on_the_leading_principal_directions():
    x, _ = blobs()
    centred = x - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    assert np.allclose(np.abs(pca(x, 5)), np.abs(centred @ vt[:5].T))  # each direction up to its sign
