"""DeViSE (Frome et al., NIPS 2013): the hinge rank loss of the paper's Eq. 1, on a linear map
of image features into the class-embedding space (here the classes' attributes, as in Xian
et al., TPAMI 2018, Sec. 3.2):

    loss(x_n, y_n) = sum_{y != y_n} max(0, margin - t_{y_n}^T M x_n + t_y^T M x_n)

with M = W^T: every class that comes within ``margin`` of the true one costs its violation,
unweighted (the paper's margin: 0.1 on its unit-norm word vectors).
"""

from __future__ import annotations

import numpy as np

from mgmrn.baselines.bilinear import violations


def devise_loss(scores: np.ndarray, targets: np.ndarray, margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Per-image hinge rank losses and their gradient with respect to ``scores`` (B, Z)."""
    v = violations(scores, targets, margin)
    grad = (v > 0).astype(np.float64)
    grad[np.arange(len(targets)), targets] -= grad.sum(1)
    return v.sum(1), grad
