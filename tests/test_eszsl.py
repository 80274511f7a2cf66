"""ESZSL baseline: closed form against the normal equations; zero-shot on synthetic linear data."""

from __future__ import annotations

import numpy as np
import pytest

from mgmrn.baselines import ESZSL, select_on_validation
from mgmrn.errors import UserError
from mgmrn.evaluation.metrics import zsl_accuracy


def linear_world(
    seed: int = 0, n_classes: int = 30, n_attributes: int = 24, dim: int = 48, per_class: int = 25
):
    """Images x = W s_class + noise, binary attributes: classes are defined by attributes only."""
    rng = np.random.default_rng(seed)
    attributes = (rng.random((n_classes, n_attributes)) < 0.5).astype(float)
    mixing = rng.normal(size=(dim, n_attributes))
    labels = np.repeat(np.arange(n_classes), per_class)
    features = attributes[labels] @ mixing.T + 0.5 * rng.normal(size=(labels.size, dim))
    return features, labels, attributes


def test_fit_matches_normal_equations():
    features, labels, attributes = linear_world(1, n_classes=12, per_class=6)
    train = labels < 8
    gamma, lam = 0.3, 2.0
    v = ESZSL().fit(features[train], labels[train], attributes, gamma, lam).weights
    x = features[train].T  # d x n
    s = attributes[:8].T  # a x z
    y = 2.0 * (labels[train][:, None] == np.arange(8)) - 1.0  # n x z in {-1, 1}
    direct = np.linalg.solve(x @ x.T + gamma * np.eye(len(x)), x @ y @ s.T) @ np.linalg.inv(
        s @ s.T + lam * np.eye(len(s))
    )
    np.testing.assert_allclose(v, direct, rtol=1e-8, atol=1e-10)
    # stationarity of the objective: (X X^T + gamma I) V (S S^T + lam I) = X Y S^T
    lhs = (x @ x.T + gamma * np.eye(len(x))) @ v @ (s @ s.T + lam * np.eye(len(s)))
    np.testing.assert_allclose(lhs, x @ y @ s.T, rtol=1e-8, atol=1e-8)


def test_recognises_unseen_classes():
    features, labels, attributes = linear_world()
    unseen = np.arange(20, 30)
    train, test = labels < 20, labels >= 20
    # regularisers chosen with seen classes 15..19 held out as pseudo-unseen
    fit_part, val_part = train & (labels < 15), train & (labels >= 15)
    chosen = select_on_validation(
        features[fit_part], labels[fit_part], features[val_part], labels[val_part], attributes
    )
    assert chosen.val_zsl_top1 > 0.5 and chosen.gamma in 10.0 ** np.arange(-3, 4)
    model = ESZSL().fit(features[train], labels[train], attributes, chosen.gamma, chosen.lam)
    scores = model.scores(features[test], attributes)
    assert scores.shape == (test.sum(), 30)
    accuracy = zsl_accuracy(scores, labels[test], unseen)
    assert accuracy > 0.5  # five times chance (1 / 10)


def test_bad_input():
    features, labels, attributes = linear_world(2, n_classes=6, per_class=3)
    with pytest.raises(UserError):
        ESZSL().fit(features, labels, attributes, 0.0, 1.0)
    with pytest.raises(UserError):
        ESZSL().fit(features, labels + 6, attributes, 1.0, 1.0)
    with pytest.raises(UserError, match="disjoint"):
        select_on_validation(features, labels, features, labels, attributes)
