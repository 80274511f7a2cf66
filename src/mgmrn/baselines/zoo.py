"""Xian et al.'s (TPAMI 2018) five classic methods on fixed features, each with the grid its
hyperparameters are chosen from on validation (:mod:`mgmrn.baselines.protocol`): name ->
factory(seed) -> (candidates, refit). ESZSL and SAE are closed forms (the seed is unused);
ALE, DeViSE and SJE are trained by SGD from a seeded start, the epoch count chosen on
validation with the learning rate (and DeViSE's margin)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from mgmrn.baselines.ale import ale_loss
from mgmrn.baselines.bilinear import Hyper
from mgmrn.baselines.devise import devise_loss
from mgmrn.baselines.eszsl import ESZSL
from mgmrn.baselines.protocol import Candidates, Refit, Split, sgd_candidates, sgd_refit
from mgmrn.baselines.sae import DIRECTIONS, SAE
from mgmrn.baselines.sje import sje_loss

LEARNING_RATES = (0.1, 0.3, 1.0, 3.0, 10.0)
EPOCHS = 30
STOCHASTIC = ("ALE", "DeViSE", "SJE")


def _sgd(loss: Callable[..., Any], margins: tuple[float, ...]) -> Callable[[int], tuple[Candidates, Refit]]:
    def factory(seed: int) -> tuple[Candidates, Refit]:
        grid = [Hyper(lr, margin, EPOCHS, seed=seed) for lr in LEARNING_RATES for margin in margins]
        return sgd_candidates(loss, grid), sgd_refit(loss)
    return factory


def _closed_form(build: Callable[..., Any], grid: list[dict[str, Any]]) -> Callable[[int], tuple[Candidates, Refit]]:
    def refit(params: dict[str, Any], train: Split, attributes: np.ndarray) -> Any:
        return build(params, train, attributes)

    def factory(seed: int) -> tuple[Candidates, Refit]:
        return (lambda train, attributes: ((p, build(p, train, attributes)) for p in grid)), refit
    return factory


def _eszsl(p: dict[str, Any], train: Split, attributes: np.ndarray) -> ESZSL:
    return ESZSL().fit(*train, attributes, p["gamma"], p["lam"])


def eszsl(exponents: Sequence[int] = range(-3, 7)) -> Callable[[int], tuple[Candidates, Refit]]:
    """ESZSL with (gamma, lam) chosen in {10^e : e in exponents}^2 (gamma the outer loop)."""
    return _closed_form(_eszsl, [{"gamma": 10.0**g, "lam": 10.0**l} for g in exponents for l in exponents])


def _sae(p: dict[str, Any], train: Split, attributes: np.ndarray) -> SAE:
    return SAE(p["lam"], p["direction"]).fit(*train, attributes)


METHODS: dict[str, Callable[[int], tuple[Candidates, Refit]]] = {
    "ESZSL": eszsl(),
    "ALE": _sgd(ale_loss, (1.0,)),
    "DeViSE": _sgd(devise_loss, (0.1, 1.0)),
    "SJE": _sgd(sje_loss, (1.0,)),
    "SAE": _closed_form(_sae, [{"lam": 10.0**e, "direction": d} for e in range(-4, 5) for d in DIRECTIONS]),
}
