"""Exact t-SNE (van der Maaten and Hinton, 2008) in numpy, for the report's Fig. 6.

Written here rather than taken from scikit-learn, which is not a dependency of mgmrn: the
figure embeds a few hundred points (9 classes of up to 20 test images), where the exact
O(N^2) algorithm takes about a second, so the Barnes-Hut approximation is not needed. It is
the paper's algorithm: Gaussian conditional probabilities whose bandwidths are set by
bisection to a perplexity, symmetrised; Student-t similarities of the 2-D points; gradient
descent on KL(P || Q) with momentum, per-coordinate gains and early exaggeration. The input is
first reduced to its 50 principal components, as is usual.
"""

from __future__ import annotations

import numpy as np

EXAGGERATION, EXAGGERATED_STEPS = 12.0, 250


def pca(x: np.ndarray, dims: int) -> np.ndarray:
    """``x`` (N, D) centred and projected on its ``dims`` leading principal directions: from
    the eigenvectors of the N x N Gram matrix (N is a few hundred here, D up to L x A)."""
    x = x - x.mean(0)
    values, vectors = np.linalg.eigh(x @ x.T)  # ascending; x = U S V^T gives x V = U S
    top = slice(None, -dims - 1, -1)
    return vectors[:, top] * np.sqrt(np.maximum(values[top], 0.0))


def squared_distances(x: np.ndarray) -> np.ndarray:
    """(N, N) squared Euclidean distances between the rows of ``x``."""
    sq = (x * x).sum(1)
    return np.maximum(sq[:, None] + sq[None] - 2 * x @ x.T, 0.0)


def conditional_probabilities(d2: np.ndarray, perplexity: float, steps: int = 100) -> np.ndarray:
    """Rows p_{j|i} = exp(-beta_i d2_ij) / sum_k exp(-beta_i d2_ik) (p_{i|i} = 0), each beta_i
    found by bisection so that the row's perplexity 2^H (H in bits) is ``perplexity``."""
    n = len(d2)
    off = ~np.eye(n, dtype=bool)
    d = np.where(off, d2 - np.where(off, d2, np.inf).min(1, keepdims=True), 0.0)  # shifted: no underflow
    beta, lo, hi = np.ones(n), np.zeros(n), np.full(n, np.inf)
    for _ in range(steps):
        p = np.exp(-d * beta[:, None]) * off
        total = p.sum(1)
        entropy = np.log(total) + beta * (d * p).sum(1) / total  # in nats
        high = entropy > np.log(perplexity)  # too flat: sharpen
        lo, hi = np.where(high, beta, lo), np.where(high, hi, beta)
        beta = np.where(np.isinf(hi), beta * 2, (lo + hi) / 2)
    return p / total[:, None]


def joint_probabilities(x: np.ndarray, perplexity: float) -> np.ndarray:
    """The symmetric P of t-SNE: (p_{j|i} + p_{i|j}) / 2N."""
    d2 = squared_distances(x)
    p = conditional_probabilities(d2 / d2.mean(), perplexity)
    return (p + p.T) / (2 * len(x))


def _student_q(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Student-t kernel 1 / (1 + |y_i - y_j|^2) (zero diagonal) and Q, its normalised form."""
    num = 1.0 / (1.0 + squared_distances(y))
    np.fill_diagonal(num, 0.0)
    return num, np.maximum(num / num.sum(), 1e-300)


def gradient(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The gradient of KL(P || Q) at the 2-D points ``y``: 4 sum_j (p_ij - q_ij)(y_i - y_j) / (1 + |y_i - y_j|^2)."""
    num, q = _student_q(y)
    weights = (p - q) * num
    return 4.0 * (weights.sum(1)[:, None] * y - weights @ y)


def kl_gradient(p: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """KL(P || Q) of the 2-D points ``y`` and its :func:`gradient`."""
    _, q = _student_q(y)
    kept = p > 0
    return float(np.sum(p[kept] * np.log(p[kept] / q[kept]))), gradient(p, y)


def tsne(x: np.ndarray, perplexity: float = 30.0, iterations: int = 1000, seed: int = 0) -> np.ndarray:
    """2-D embedding (N, 2) of the rows of ``x`` (N, D); the perplexity is lowered to (N - 1) / 3
    for few points."""
    n = len(x)
    if n < 3:
        return np.zeros((n, 2))
    p = joint_probabilities(pca(np.asarray(x, np.float64), min(50, n, x.shape[1])), min(perplexity, (n - 1) / 3))
    y = np.random.default_rng(seed).normal(0.0, 1e-4, (n, 2))
    velocity, gains = np.zeros_like(y), np.ones_like(y)
    rate = max(n / EXAGGERATION / 4, 50.0)
    for step in range(iterations):
        early = step < EXAGGERATED_STEPS
        grad = gradient(p * EXAGGERATION if early else p, y)  # the loop needs no KL value
        gains = np.where(np.sign(grad) != np.sign(velocity), gains + 0.2, gains * 0.8).clip(0.01)
        velocity = (0.5 if early else 0.8) * velocity - rate * gains * grad
        y = y + velocity
        y -= y.mean(0)
    return y
