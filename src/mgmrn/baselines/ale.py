"""ALE, Attribute Label Embedding (Akata et al., CVPR 2013; TPAMI 2016), with the weighted
approximate ranking (WARP) objective as Xian et al. (TPAMI 2018, Eq. 4) state it:

    (1/N) sum_n  beta_{r_n} / r_n  sum_y [Delta(y_n, y) + x_n^T W phi(y) - x_n^T W phi(y_n)]_+

with r_n = sum_{y != y_n} 1(x_n^T W phi(y) + Delta(y_n, y) >= x_n^T W phi(y_n)) the number of
classes that violate the margin (the rank of the true class, margin included), and
beta_k = sum_{i=1..k} 1/i, so that a true class ranked far down costs more per violation than
one just below the top (Usunier et al. 2009; Akata et al. 2016, Sec. 3.2). An image with
r_n = 0 costs nothing. Delta = ``margin`` (1 in the paper) between different classes. Trained
by SGD with the rank weight held fixed within a step (the paper's stochastic update).
"""

from __future__ import annotations

import numpy as np

from mgmrn.baselines.bilinear import violations


def rank_weights(ranks: np.ndarray) -> np.ndarray:
    """beta_r / r for each rank r (0 where r = 0), beta_r = 1 + 1/2 + ... + 1/r."""
    ranks = np.asarray(ranks, np.int64)
    beta = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, max(int(ranks.max(initial=0)), 1) + 1))])
    return np.divide(beta[ranks], ranks, out=np.zeros(ranks.shape), where=ranks > 0)


def ale_loss(scores: np.ndarray, targets: np.ndarray, margin: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-image WARP losses and their gradient with respect to ``scores`` (B, Z)."""
    v = violations(scores, targets, margin)
    violating = v > 0
    weight = rank_weights(violating.sum(1))
    grad = violating * weight[:, None]
    grad[np.arange(len(targets)), targets] -= grad.sum(1)
    return weight * v.sum(1), grad
