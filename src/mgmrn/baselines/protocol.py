"""The protocol every baseline follows on fixed features, as the trainer does for Mg-MRN:
hyperparameters chosen by ZSL top-1 on the validation split's held-out seen classes (models fit
on the other seen classes' images), the GZSL gamma chosen on validation with that model, then
a refit on all training images with the chosen hyperparameters and the test metrics
(:func:`mgmrn.metrics.evaluate`, calibration ``val``)."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterable, NamedTuple, Protocol

import numpy as np

from mgmrn.baselines.bilinear import Bilinear, Hyper, Loss, sgd_epochs
from mgmrn.evaluation.metrics import choose_gamma, zsl_accuracy
from mgmrn.metrics import evaluate


class Scorer(Protocol):
    def scores(self, features: Any, class_attributes: Any) -> np.ndarray: ...


class Split(NamedTuple):
    features: np.ndarray  # (n, d)
    labels: np.ndarray  # (n,) global class indices


class Task(NamedTuple):
    """Features of every split of a zero-shot set, and its classes (global indices)."""

    attributes: np.ndarray  # (K, a)
    seen: np.ndarray  # (K,) booleans: classes with training images
    val_seen: np.ndarray  # seen classes kept for fitting during validation
    val_unseen: np.ndarray  # seen classes held out as pseudo-unseen
    train_sub: Split  # training images of val_seen
    val: Split  # validation images: val_seen's held-out images, then val_unseen's
    train: Split  # all training images
    test: Split  # test images of seen, then unseen classes


# candidates(train split, attributes) -> (hyperparameters, fitted model) pairs; refit(hyperparameters, ...)
Candidates = Callable[[Split, np.ndarray], Iterable[tuple[dict[str, Any], Scorer]]]
Refit = Callable[[dict[str, Any], Split, np.ndarray], Scorer]


def sgd_candidates(loss: Callable[..., Any], grid: Iterable[Hyper]) -> Candidates:
    """Every (lr, margin, seed) of ``grid`` after each epoch up to its ``epochs``."""
    def candidates(train: Split, attributes: np.ndarray) -> Iterable[tuple[dict[str, Any], Scorer]]:
        for hyper in grid:
            bound: Loss = partial(loss, margin=hyper.margin)
            for epoch, w in enumerate(sgd_epochs(bound, *train, attributes, hyper), 1):
                yield hyper._replace(epochs=epoch)._asdict(), Bilinear(w)
    return candidates


def sgd_refit(loss: Callable[..., Any]) -> Refit:
    """The model of ``loss`` after SGD with the chosen hyperparameters (the chosen epoch count)."""
    def refit(chosen: dict[str, Any], train: Split, attributes: np.ndarray) -> Scorer:
        hyper = Hyper(**chosen)
        *_, w = sgd_epochs(partial(loss, margin=hyper.margin), *train, attributes, hyper)
        return Bilinear(w)
    return refit


def select(candidates: Candidates, task: Task) -> tuple[dict[str, Any], Scorer, float]:
    """The candidate (fit on ``train_sub``) of best validation ZSL top-1 (the first among ties)."""
    is_unseen = np.isin(task.val.labels, task.val_unseen)
    x, y = task.val.features[is_unseen], task.val.labels[is_unseen]
    best: tuple[dict[str, Any], Scorer, float] | None = None
    for params, model in candidates(task.train_sub, task.attributes):
        top1 = zsl_accuracy(model.scores(x, task.attributes), y, task.val_unseen)
        if best is None or top1 > best[2]:
            best = (params, model, top1)
    if best is None:
        raise ValueError("no hyperparameters to choose from")
    return best


def run_protocol(candidates: Candidates, refit: Refit, task: Task) -> dict[str, Any]:
    """Test metrics (percent, keyed as ``metrics.json``), the chosen hyperparameters and their
    validation ZSL top-1."""
    params, model, val_top1 = select(candidates, task)
    val_scores = model.scores(task.val.features, task.attributes)
    gamma = choose_gamma(val_scores, task.val.labels, task.val_seen, task.val_unseen)
    final = refit(params, task.train, task.attributes)
    metrics = evaluate(final.scores(task.test.features, task.attributes), task.test.labels, task.seen,
                       val_gamma=gamma)
    return {"metrics": metrics, "hyperparameters": params, "val_zsl_top1": 100 * val_top1}
