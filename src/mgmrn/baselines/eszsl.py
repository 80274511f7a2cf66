"""ESZSL (Romera-Paredes & Torr, ICML 2015), an embarrassingly simple zero-shot baseline.

With X the d x n training features, S the a x z attributes of the z training classes and
Y the n x z ground truth, the bilinear map V (d x a) minimising

    ||X^T V S - Y||^2 + gamma ||V S||^2 + lam ||X^T V||^2 + gamma lam ||V||^2

has the closed form (paper Eq. 5)

    V = (X X^T + gamma I)^-1  X Y S^T  (S S^T + lam I)^-1.

Y uses the paper's encoding {-1, 1}: 1 for the image's class, -1 for every other training
class. The score of image x for a class with attributes s is x^T V s. Arrays follow the
library's row convention: ``features`` is (n, d), ``class_attributes`` is (n_classes, a)
indexed by global class index, ``labels`` are global class indices.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from mgmrn.errors import UserError
from mgmrn.evaluation.metrics import zsl_accuracy


def _matrix(x: Any) -> np.ndarray:
    """``x`` (array or tensor) as a float64 2-D numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise UserError(f"expected a 2-D array, got shape {x.shape}")
    return x


class _Solver:
    """Eigendecompositions of X X^T and S S^T: each (gamma, lam) then costs two products."""

    def __init__(self, features: Any, labels: Any, class_attributes: Any) -> None:
        x, attributes = _matrix(features), _matrix(class_attributes)
        labels = np.asarray(labels, dtype=np.int64).ravel()
        if len(labels) != len(x) or labels.min() < 0 or labels.max() >= len(attributes):
            raise UserError("labels must index the rows of class_attributes, one per feature row")
        classes, pos = np.unique(labels, return_inverse=True)
        s = attributes[classes].T  # a x z
        y = -np.ones((len(x), classes.size))
        y[np.arange(len(x)), pos.ravel()] = 1.0
        self.ex, self.qx = np.linalg.eigh(x.T @ x)  # X X^T, d x d
        self.es, self.qs = np.linalg.eigh(s @ s.T)  # S S^T, a x a
        self.rhs = self.qx.T @ ((x.T @ y) @ s.T) @ self.qs  # X Y S^T in both eigenbases

    def solve(self, gamma: float, lam: float) -> np.ndarray:
        if gamma <= 0 or lam <= 0:
            raise UserError(f"ESZSL regularisers must be positive, got gamma={gamma}, lam={lam}")
        return self.qx @ (self.rhs / np.outer(self.ex + gamma, self.es + lam)) @ self.qs.T


class ESZSL:
    """The ESZSL bilinear model; ``weights`` is V (d x a) after :meth:`fit`."""

    def __init__(self) -> None:
        self.weights: Optional[np.ndarray] = None

    def fit(
        self, features: Any, labels: Any, class_attributes: Any, gamma: float, lam: float
    ) -> ESZSL:
        """Closed-form V on the classes present in ``labels``; returns ``self``."""
        self.weights = _Solver(features, labels, class_attributes).solve(gamma, lam)
        return self

    def scores(self, features: Any, class_attributes: Any) -> np.ndarray:
        """(n, n_classes) scores x^T V s of every image for every class."""
        if self.weights is None:
            raise RuntimeError("ESZSL.scores called before fit")
        return _matrix(features) @ self.weights @ _matrix(class_attributes).T


class Selection(NamedTuple):
    """Regularisers chosen on validation and the validation ZSL top-1 (fraction) they give."""

    gamma: float
    lam: float
    val_zsl_top1: float


def select_on_validation(
    train_features: Any,
    train_labels: Any,
    val_features: Any,
    val_labels: Any,
    class_attributes: Any,
    exponents: Sequence[int] = range(-3, 4),
) -> Selection:
    """Choose (gamma, lam) in {10^e : e in exponents}^2 by ZSL top-1 on validation classes.

    The validation classes (those of ``val_labels``) must be disjoint from the training
    classes; they are scored among themselves only. Refit on train + validation afterwards.
    """
    val_labels = np.asarray(val_labels, dtype=np.int64).ravel()
    val_classes = np.unique(val_labels)
    if np.isin(val_classes, np.asarray(train_labels)).any():
        raise UserError("validation classes must be disjoint from the training classes")
    solver = _Solver(train_features, train_labels, class_attributes)
    attributes_t = _matrix(class_attributes).T
    val_x = _matrix(val_features)
    best: Optional[Selection] = None
    for ge in exponents:
        for le in exponents:
            gamma, lam = 10.0**ge, 10.0**le
            scores = val_x @ solver.solve(gamma, lam) @ attributes_t
            accuracy = zsl_accuracy(scores, val_labels, val_classes)
            if best is None or accuracy > best.val_zsl_top1:
                best = Selection(gamma, lam, accuracy)
    if best is None:
        raise UserError("select_on_validation needs at least one exponent")
    return best
