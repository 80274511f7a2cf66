"""SAE, the Semantic AutoEncoder (Kodirov et al., CVPR 2017): an encoder W (k x d) from image
features to attributes whose transpose decodes them back. With X (d x N) the training
features and S (k x N) each image's class attributes, the relaxed objective (paper Eq. 4)

    min_W  ||X - W^T S||_F^2 + lam ||W X - S||_F^2

has its minimum where the derivative vanishes, the Sylvester equation (paper Eq. 6-7)

    S S^T W + W (lam X X^T) = (1 + lam) S X^T,

solved in closed form by Bartels-Stewart (``scipy.linalg.solve_sylvester``). A class y is
scored by the cosine of W x and its attributes s_y (``direction='F->S'``, the encoder) or of
x and W^T s_y (``'S->F'``, the decoder), the paper's two test modes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import solve_sylvester

from mgmrn.errors import UserError

DIRECTIONS = ("F->S", "S->F")


def sylvester_terms(features: Any, labels: Any, class_attributes: Any, lam: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, B, C) of A W + W B = C: S S^T, lam X X^T, (1 + lam) S X^T."""
    x = np.asarray(features, np.float64).T
    s = np.asarray(class_attributes, np.float64)[np.asarray(labels, np.int64)].T
    return s @ s.T, lam * (x @ x.T), (1 + lam) * (s @ x.T)


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


class SAE:
    """The fitted encoder ``weights`` W (k x d)."""

    def __init__(self, lam: float, direction: str = "F->S") -> None:
        if lam <= 0 or direction not in DIRECTIONS:
            raise UserError(f"SAE needs lam > 0 and a direction in {DIRECTIONS}, got {lam}, {direction!r}")
        self.lam, self.direction = lam, direction
        self.weights = np.zeros((0, 0))

    def fit(self, features: Any, labels: Any, class_attributes: Any) -> "SAE":
        """W solving the Sylvester equation on the training images; returns ``self``."""
        self.weights = solve_sylvester(*sylvester_terms(features, labels, class_attributes, self.lam))
        return self

    def scores(self, features: Any, class_attributes: Any) -> np.ndarray:
        """(n, n_classes) cosines in the attribute (F->S) or the feature (S->F) space."""
        x, a = np.asarray(features, np.float64), np.asarray(class_attributes, np.float64)
        if self.direction == "F->S":
            return _unit(x @ self.weights.T) @ _unit(a).T
        return _unit(x) @ _unit(a @ self.weights).T
