"""Zero-shot metrics of any model's class scores: the public, stable API.

``from mgmrn.metrics import evaluate`` scores a matrix your own model produced, with the
exact, vectorised implementation ``mgmrn train`` and ``mgmrn eval`` use
(:mod:`mgmrn.evaluation.metrics`); importing this module imports numpy only (no torch, no
training code). Example and definitions: ``docs/metrics.md``.

Inputs (numpy arrays, torch tensors on any device, or sequences)
---------------------------------------------------------------
* ``scores``: ``(N, K)``, one row per image, one column per candidate class (higher is
  better); finite numbers.
* ``labels``: ``(N,)``, each image's true class as a column index in ``[0, K)``.
* ``seen``: ``(K,)`` booleans, true for the classes that had training images; every other
  column is an unseen class. Both kinds must be present.

Conventions
-----------
* Every accuracy is a per-class mean: the top-1 accuracy of each class, averaged over the
  classes that have images in ``labels`` (classes without images do not count). Functions
  return fractions in [0, 1]; :func:`evaluate` returns percentages, as ``metrics.json``.
* ZSL top-1: the images of unseen classes, each predicted as its best-scored unseen class.
* GZSL at ``gamma`` (calibrated stacking, Chao et al. 2016): every image is predicted as its
  best class among all K after ``gamma`` is subtracted from the seen classes' scores. U is
  the per-class accuracy over the unseen classes' images, S over the seen classes', and
  H = 2US / (U + S) (0 when U + S = 0).
* Ties: between classes of the same kind, the lowest column index wins (``argmax``); between
  the best seen score less gamma and the best unseen score, the unseen class wins.
* Gammas are searched exactly: U and S are step functions of gamma that change only at each
  image's best seen score minus its best unseen score, and the sweep visits one gamma in
  every interval between those points (plus one below and one above all of them). The best
  H over that grid is the best H over all real gammas; among equally good gammas the middle
  one is taken.
* AUSUC is the exact area under the curve of (U, S) as gamma goes from -inf (U = 0) to +inf
  (S = 0), with straight segments between consecutive operating points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Sequence, Union

import numpy as np

from mgmrn.errors import UserError
from mgmrn.evaluation import metrics as _engine

if TYPE_CHECKING:
    import torch

ArrayLike = Union[np.ndarray, "torch.Tensor", Sequence[Any]]

__all__ = ["GZSL", "TestSweep", "Curve", "check", "zsl_top1", "gzsl", "choose_gamma", "test_sweep",
           "seen_unseen_curve", "ausuc", "evaluate"]


class GZSL(NamedTuple):
    """GZSL accuracies (fractions): unseen U, seen S, harmonic mean H."""

    unseen: float
    seen: float
    h: float


class TestSweep(NamedTuple):
    """The best H over all gammas of the scored split itself: chosen on the test data, so an
    upper bound for comparison with other code, never a result to report as calibrated."""

    gamma: float
    gzsl: GZSL


class Curve(NamedTuple):
    """The seen-unseen curve: at each operating point, from gamma = -inf (U = 0) up to the
    last (S = 0), its gamma, U and S (fractions); ``ausuc``: the exact area under it."""

    gammas: np.ndarray
    unseen: np.ndarray
    seen: np.ndarray
    ausuc: float


class _Checked(NamedTuple):
    scores: np.ndarray
    labels: np.ndarray
    seen: np.ndarray  # column indices of the seen classes
    unseen: np.ndarray  # column indices of the unseen classes


def _array(x: ArrayLike) -> np.ndarray:
    """``x`` as a numpy array, read back from any torch device."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _check(scores: ArrayLike, labels: ArrayLike, seen: ArrayLike, name: str = "") -> _Checked:
    """Validated inputs; a :class:`UserError` naming the array (``name``: e.g. ``'val '``) otherwise."""
    s, y, mask = _array(scores), _array(labels), _array(seen)
    if s.ndim != 2 or s.shape[0] == 0 or s.shape[1] < 2 or s.dtype.kind not in "biuf":
        raise UserError(f"{name}scores must be a numeric (images, classes) matrix with 2 classes or more, "
                        f"got shape {s.shape} of {s.dtype}")
    if not np.isfinite(s).all():
        raise UserError(f"{name}scores hold {int((~np.isfinite(s)).sum())} NaN or infinite values")
    if y.shape != (s.shape[0],) or y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and (y != np.round(y)).any()):
        raise UserError(f"{name}labels must be {s.shape[0]} whole numbers (one per row of scores), "
                        f"got shape {y.shape} of {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= s.shape[1]:
        raise UserError(f"{name}labels must be class columns in [0, {s.shape[1]}), got {y.min()} to {y.max()}")
    if mask.shape != (s.shape[1],) or mask.dtype.kind not in "biu" or not np.isin(mask, (0, 1)).all():
        raise UserError(f"{name}seen must be {s.shape[1]} booleans (one per column of scores), "
                        f"got shape {mask.shape} of {mask.dtype}")
    mask = mask.astype(bool)
    if mask.all() or not mask.any():
        raise UserError(f"{name}seen marks {'every' if mask.all() else 'no'} class as seen: "
                        "GZSL needs seen and unseen classes")
    return _Checked(s.astype(np.float64), y, np.flatnonzero(mask), np.flatnonzero(~mask))


def _gzsl_inputs(scores: ArrayLike, labels: ArrayLike, seen: ArrayLike, name: str = "") -> _Checked:
    """:func:`_check`, and images of both seen and unseen classes."""
    c = _check(scores, labels, seen, name)
    for kind, classes in (("seen", c.seen), ("unseen", c.unseen)):
        if not np.isin(c.labels, classes).any():
            raise UserError(f"{name}labels hold no image of a{'n' if kind == 'unseen' else ''} {kind} class")
    return c


def check(scores: ArrayLike, labels: ArrayLike, seen: ArrayLike) -> None:
    """Raise :class:`mgmrn.errors.UserError` (one line) unless the arrays can be evaluated:
    shapes, finite scores, whole labels within the columns, seen and unseen classes, and images
    of both."""
    _gzsl_inputs(scores, labels, seen)


def zsl_top1(scores: ArrayLike, labels: ArrayLike, seen: ArrayLike) -> float:
    """ZSL top-1 (fraction): the unseen classes' images ranked among the unseen classes only,
    per-class mean."""
    c = _check(scores, labels, seen)
    if not np.isin(c.labels, c.unseen).any():
        raise UserError("labels hold no image of an unseen class")
    return _engine.zsl_accuracy(c.scores, c.labels, c.unseen)


def gzsl(scores: ArrayLike, labels: ArrayLike, seen: ArrayLike, gamma: float = 0.0) -> GZSL:
    """GZSL U, S, H (fractions) with ``gamma`` subtracted from the seen classes' scores."""
    c = _gzsl_inputs(scores, labels, seen)
    return GZSL(*_engine.gzsl_accuracy(c.scores, c.labels, c.seen, c.unseen, gamma=float(gamma)))


def choose_gamma(val_scores: ArrayLike, val_labels: ArrayLike, val_seen: ArrayLike) -> float:
    """The gamma of best H on a validation split (the exact grid; ties: the middle one).

    Validation holds out some seen classes as pseudo-unseen: ``val_seen`` is false for them
    (and, if the columns of truly unseen classes are kept, for those too)."""
    c = _gzsl_inputs(val_scores, val_labels, val_seen, "val ")
    return _engine.choose_gamma(c.scores, c.labels, c.seen, c.unseen)


def test_sweep(scores: ArrayLike, labels: ArrayLike, seen: ArrayLike) -> TestSweep:
    """The best H over every gamma of these scores themselves (see :class:`TestSweep`)."""
    gamma = _engine.choose_gamma(*_gzsl_inputs(scores, labels, seen))
    return TestSweep(gamma, gzsl(scores, labels, seen, gamma))


test_sweep.__test__ = False  # a metric, not a test for pytest to collect


def seen_unseen_curve(scores: ArrayLike, labels: ArrayLike, seen: ArrayLike) -> Curve:
    """S against U at every operating point (Chao et al. 2016's seen-unseen curve), with its
    exact area (AUSUC)."""
    c = _gzsl_inputs(scores, labels, seen)
    gammas = np.concatenate([[-np.inf], _engine.critical_gammas(*c)])
    sweep = _engine.gamma_sweep(*c, gammas)
    return Curve(sweep.gammas, sweep.unseen, sweep.seen, _engine.ausuc_from_curve(sweep.unseen, sweep.seen))


def ausuc(scores: ArrayLike, labels: ArrayLike, seen: ArrayLike) -> float:
    """Exact area under the seen-unseen curve (fraction of the unit square)."""
    return _engine.ausuc(*_gzsl_inputs(scores, labels, seen))


def evaluate(
    scores: ArrayLike, labels: ArrayLike, seen: ArrayLike, *,
    val: Optional[tuple[ArrayLike, ArrayLike, ArrayLike]] = None,
    val_gamma: Optional[float] = None, gamma: Optional[float] = None,
) -> dict[str, Any]:
    """Every test metric in percent, keyed as ``metrics.json``: ``zsl_top1``, ``gzsl_unseen``,
    ``gzsl_seen``, ``gzsl_h``, ``ausuc``, ``gamma``, ``calibration``, the uncalibrated
    (gamma = 0) ``gzsl_{unseen,seen,h}_uncalibrated``, and the labelled ``test_sweep_gamma``
    and ``test_sweep_h``.

    The gamma applied (at most one of the three): chosen on ``val`` = (scores, labels, seen) of
    a validation split (calibration ``val``; adds ``val_gzsl_h``), ``val_gamma`` chosen on
    validation before (``val``), a ``fixed`` ``gamma``; with none, the test sweep's own
    (``test-sweep``: chosen on the test data)."""
    if sum(x is not None for x in (val, val_gamma, gamma)) > 1:
        raise UserError("give at most one of val, val_gamma and gamma")
    test = _gzsl_inputs(scores, labels, seen)
    if val is not None:
        how = _engine.Calibration("val")
        val = tuple(_gzsl_inputs(*val, "val "))
    elif val_gamma is not None:
        how = _engine.Calibration("val", val=float(val_gamma))
    elif gamma is not None:
        how = _engine.Calibration("fixed", fixed=float(gamma))
    else:
        how = _engine.Calibration("test-sweep")
    return _engine.evaluate_scores(*test, how, val=val)
