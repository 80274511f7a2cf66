"""SJE, Structured Joint Embedding (Akata et al., CVPR 2015), with attributes as the output
embedding: the structured SVM objective of the paper's Eq. 3,

    loss(x_n, y_n) = max_y [Delta(y_n, y) + x_n^T W phi(y) - x_n^T W phi(y_n)]_+

(Xian et al., TPAMI 2018, Eq. 5): only the single most violating class is penalised (ALE and
DeViSE sum over all violators), with Delta = ``margin`` (1 in the paper) between different
classes; trained by SGD on that class and the true one.
"""

from __future__ import annotations

import numpy as np

from mgmrn.baselines.bilinear import violations


def sje_loss(scores: np.ndarray, targets: np.ndarray, margin: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-image max-margin losses and their gradient with respect to ``scores`` (B, Z)."""
    v = violations(scores, targets, margin)
    rows = np.arange(len(targets))
    worst = v.argmax(1)
    loss = v[rows, worst]
    grad = np.zeros_like(scores, dtype=np.float64)
    grad[rows, worst] = loss > 0
    grad[rows, targets] -= loss > 0
    return loss, grad
