"""The bilinear compatibility F(x, y) = x^T W phi(y) that ALE, DeViSE and SJE learn, trained
by minibatch SGD on a ranking loss of the scores (Xian et al., TPAMI 2018, Eq. 3).

A loss is a function of a batch's scores (B, Z) over the training classes and each row's
target column, returning the per-image losses and their gradient with respect to the scores;
the gradient with respect to W follows as X^T G A (A: the training classes' attributes). Rows
follow the library's convention: ``features`` (n, d), ``class_attributes`` (n_classes, a)
indexed by global class, ``labels`` global class indices.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, NamedTuple, Optional

import numpy as np

from mgmrn.errors import UserError

Loss = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class Hyper(NamedTuple):
    """SGD settings: learning rate, the loss's margin, epochs, batch size, seed (init, order)."""

    lr: float
    margin: float = 1.0
    epochs: int = 20
    batch: int = 64
    seed: int = 0


def violations(scores: np.ndarray, targets: np.ndarray, margin: float) -> np.ndarray:
    """[Delta(y_n, y) + F(x_n, y) - F(x_n, y_n)]_+ for every class y (B, Z), with Delta = ``margin``
    for y != y_n and 0 for y_n (whose own term is then 0)."""
    rows = np.arange(len(targets))
    v = margin + scores - scores[rows, targets][:, None]
    v[rows, targets] = 0.0
    return np.maximum(v, 0.0)


def _matrices(features: Any, labels: Any, class_attributes: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(features, np.float64)
    a = np.asarray(class_attributes, np.float64)
    y = np.asarray(labels, np.int64).ravel()
    if x.ndim != 2 or a.ndim != 2 or len(y) != len(x) or y.min() < 0 or y.max() >= len(a):
        raise UserError(f"features (n, d), labels (n,) indexing class_attributes (classes, a): got {x.shape}, "
                        f"{y.shape}, {a.shape}")
    return x, y, a


def sgd_epochs(loss: Loss, features: Any, labels: Any, class_attributes: Any, hyper: Hyper,
               weights: Optional[np.ndarray] = None) -> Iterator[np.ndarray]:
    """W (d, a) after each of ``hyper.epochs`` epochs of SGD on ``loss`` over the classes
    present in ``labels`` (W starts small and random, or from ``weights``). The step is
    ``hyper.lr`` over the mean squared norm of the features times that of the classes'
    attributes (the scale of a score's gradient), so that one learning-rate grid serves
    features of any scale."""
    x, y, a = _matrices(features, labels, class_attributes)
    classes, targets = np.unique(y, return_inverse=True)
    s = a[classes]  # (Z, a)
    rng = np.random.default_rng(hyper.seed)
    w = rng.normal(scale=1e-3, size=(x.shape[1], a.shape[1])) if weights is None else weights.copy()
    step = hyper.lr / (np.mean(np.sum(x * x, 1)) * np.mean(np.sum(s * s, 1)))
    for _ in range(hyper.epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), hyper.batch):
            rows = order[start:start + hyper.batch]
            _, grad = loss(x[rows] @ w @ s.T, targets[rows])
            w -= step * x[rows].T @ grad @ s / len(rows)
        yield w.copy()


def mean_loss(loss: Loss, weights: np.ndarray, features: Any, labels: Any, class_attributes: Any) -> float:
    """The mean of ``loss`` over the images at ``weights`` (the objective SGD descends)."""
    x, y, a = _matrices(features, labels, class_attributes)
    classes, targets = np.unique(y, return_inverse=True)
    return float(loss(x @ weights @ a[classes].T, targets)[0].mean())


class Bilinear:
    """A fitted compatibility: scores x^T W phi(y) of any classes."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights

    def scores(self, features: Any, class_attributes: Any) -> np.ndarray:
        """(n, n_classes) compatibilities."""
        return np.asarray(features, np.float64) @ self.weights @ np.asarray(class_attributes, np.float64).T
