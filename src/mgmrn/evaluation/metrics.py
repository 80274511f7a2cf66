"""Zero-shot metrics: per-class accuracy, ZSL top-1, GZSL with calibrated stacking, AUSUC.

Conventions
-----------
* ``scores`` is an ``(n_images, n_classes)`` matrix over ALL classes; columns and ``labels``
  are GLOBAL class indices. ``seen`` and ``unseen`` are disjoint arrays of global indices and
  may interleave (unseen labels are never offset by the number of seen classes).
* Every accuracy is a per-class mean: the mean over classes present in the labels of that
  class's top-1 accuracy. Functions return fractions in [0, 1];
  :func:`evaluate_scores` returns percentages.
* Numpy arrays, torch tensors and sequences are accepted; computation is in float64 numpy.

Calibrated stacking (Chao et al. 2016)
--------------------------------------
The GZSL prediction under ``gamma`` is the argmax over seen and unseen classes after ``gamma``
is subtracted from the seen-class scores (ties go to the unseen class). With ``s_i``/``u_i``
the best seen/unseen score of image ``i``, the image is predicted as its best seen class iff
``gamma < t_i = s_i - u_i`` (its *critical gamma*), else as its best unseen class. So U(gamma)
and S(gamma) are step functions that change only at critical gammas of images whose label is
their best unseen (resp. seen) class; :func:`gamma_sweep` evaluates them for all gammas at
once with sorting and ``searchsorted``. The plain per-gamma re-scoring
:func:`gamma_sweep_loop` is the reference it is tested against; both agree up to
floating-point rounding of ``s_i - gamma`` for a gamma within rounding of some ``t_i``.

Gamma grids
-----------
The default grid (:func:`exact_gamma_grid`) is exact: one gamma inside each interval on which
U and S are constant (the midpoints between consecutive critical gammas, plus one gamma below
the smallest and one above the largest). The best H over it is the best H over all real
gammas, whatever the score range (scores summed over L stages of cosines scaled by 20 lie in
about [-20L, 20L]). :func:`gamma_grid` builds a regular grid (``eval.gamma_steps``: lo, hi,
step; the reference code sweeps steps of 0.01) for reproducing a fixed-grid protocol.

AUSUC (Chao et al. 2016) is the exact area under the curve (U(gamma), S(gamma)) traced as
gamma goes from -inf, (U=0, S=S_max), to +inf, (U=U_max, S=0), with straight segments
between consecutive operating points.

Which gamma is applied (:class:`Calibration`, ``eval.*``) is decided in one function,
:func:`decide_gamma`: ``test-sweep`` takes the best H over the scored split's own sweep (the
reference protocol; on a validation split this is how the gamma of ``val`` is chosen),
``val`` the gamma chosen so on validation, ``fixed`` ``eval.fixed_gamma``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Sequence

import numpy as np

from mgmrn.errors import UserError

if TYPE_CHECKING:  # the config package imports data and models, not needed to compute metrics
    import torch

    from mgmrn.config.evaluation import EvalConfig

CALIBRATIONS = ("val", "test-sweep", "fixed")


class Sweep(NamedTuple):
    """GZSL accuracies (fractions) over a gamma grid."""

    gammas: np.ndarray
    unseen: np.ndarray
    seen: np.ndarray
    h: np.ndarray


class _Steps(NamedTuple):
    """One side (seen or unseen test images) of the GZSL step functions."""

    t: np.ndarray  # critical gammas of the images whose label is their best class on this side
    cls: np.ndarray  # their class position in ``total``
    total: np.ndarray  # number of images of each class present on this side


def _numpy(x: Any, dtype: type) -> np.ndarray:
    """``x`` (array, tensor or sequence) as a numpy array of ``dtype``."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = x.double() if x.is_floating_point() else x
        x = x.numpy()
    return np.asarray(x, dtype=dtype)


def _arrays(
    scores: Any, labels: Any, *class_sets: Any
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Validated float64 scores, int64 labels and int64 class index arrays."""
    scores = _numpy(scores, np.float64)
    labels = _numpy(labels, np.int64)
    if scores.ndim != 2 or labels.ndim != 1 or len(labels) != len(scores):
        raise UserError(
            f"scores must be (n_images, n_classes) and labels (n_images,), got "
            f"{scores.shape} and {labels.shape}"
        )
    sets = []
    for classes in class_sets:
        classes = _numpy(classes, np.int64).ravel()
        if classes.size == 0:
            raise UserError("empty class set")
        if classes.min() < 0 or classes.max() >= scores.shape[1]:
            raise UserError(f"class indices must lie in [0, {scores.shape[1]})")
        if np.unique(classes).size != classes.size:
            raise UserError("repeated class index in a class set")
        sets.append(classes)
    return scores, labels, sets


def _gzsl_arrays(
    scores: Any, labels: Any, seen: Any, unseen: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated GZSL inputs: disjoint seen/unseen sets covering every label."""
    scores, labels, (seen, unseen) = _arrays(scores, labels, seen, unseen)
    if np.intersect1d(seen, unseen).size:
        raise UserError("seen and unseen classes overlap")
    stray = np.setdiff1d(labels, np.concatenate([seen, unseen]))
    if stray.size:
        raise UserError(f"labels outside the seen and unseen classes: {stray[:5].tolist()}")
    return scores, labels, seen, unseen


def _mean_rate(correct: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Per-class mean over the last axis (one arithmetic path for loop and sweep)."""
    return (correct / total).mean(axis=-1)


def _harmonic(u: np.ndarray, s: np.ndarray) -> np.ndarray:
    """H = 2US / (U + S), 0 where U + S = 0."""
    u, s = np.asarray(u, np.float64), np.asarray(s, np.float64)
    den = u + s
    return np.divide(2 * u * s, den, out=np.zeros_like(den), where=den > 0)


def _per_class(pred: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> float:
    """Per-class top-1 accuracy over the classes of ``classes`` present in ``labels``."""
    present = np.intersect1d(classes, labels)
    if present.size == 0:
        raise UserError("no labelled images of the classes to evaluate")
    mask = np.isin(labels, present)
    pos = np.searchsorted(present, labels[mask])
    total = np.bincount(pos, minlength=present.size)
    correct = np.bincount(pos[pred[mask] == labels[mask]], minlength=present.size)
    return float(_mean_rate(correct, total))


def per_class_accuracy(pred: Any, labels: Any, classes: Any) -> float:
    """Mean over ``classes`` present in ``labels`` of per-class top-1 accuracy (fraction).

    Images whose label is not in ``classes`` are ignored.
    """
    pred = _numpy(pred, np.int64)
    labels = _numpy(labels, np.int64)
    if pred.shape != labels.shape or labels.ndim != 1:
        raise UserError(
            f"pred and labels must be equal-length vectors, got {pred.shape}, {labels.shape}"
        )
    return _per_class(pred, labels, _numpy(classes, np.int64).ravel())


def _zsl_predictions(scores: Any, labels: Any, unseen: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores, labels and unseen classes validated; rows of unseen-class images and their
    predicted position in ``unseen`` (argmax among the unseen candidates only)."""
    scores, labels, (unseen,) = _arrays(scores, labels, unseen)
    rows = np.flatnonzero(np.isin(labels, unseen))
    return labels, unseen, rows, np.argmax(scores[np.ix_(rows, unseen)], axis=1)


def zsl_accuracy(scores: Any, labels: Any, unseen: Any) -> float:
    """ZSL top-1 (fraction): unseen-class images scored among unseen candidates only."""
    labels, unseen, rows, pred = _zsl_predictions(scores, labels, unseen)
    return _per_class(unseen[pred], labels[rows], unseen)


def zsl_confusion(scores: Any, labels: Any, unseen: Any) -> np.ndarray:
    """ZSL confusion counts (U, U): row i, column j counts images of ``unseen[i]`` scored
    highest for ``unseen[j]`` among the unseen candidates (the predictions of
    :func:`zsl_accuracy`)."""
    labels, unseen, rows, pred = _zsl_predictions(scores, labels, unseen)
    position = np.zeros(unseen.max() + 1, dtype=np.int64)
    position[unseen] = np.arange(unseen.size)
    counts = np.zeros((unseen.size, unseen.size), dtype=np.int64)
    np.add.at(counts, (position[labels[rows]], pred), 1)
    return counts


def _gzsl_at(
    scores: np.ndarray, labels: np.ndarray, seen: np.ndarray, unseen: np.ndarray, gamma: float
) -> tuple[float, float]:
    """(U, S) by re-scoring: subtract gamma from seen scores, argmax over all candidates."""
    candidates = np.concatenate([unseen, seen])  # unseen first: ties go to unseen
    calibrated = scores[:, candidates]
    calibrated[:, unseen.size :] -= gamma
    pred = candidates[np.argmax(calibrated, axis=1)]
    return _per_class(pred, labels, unseen), _per_class(pred, labels, seen)


def gzsl_accuracy(
    scores: Any, labels: Any, seen: Any, unseen: Any, gamma: float = 0.0
) -> tuple[float, float, float]:
    """GZSL (U, S, H) as fractions with calibrated stacking at ``gamma``."""
    u, s = _gzsl_at(*_gzsl_arrays(scores, labels, seen, unseen), float(gamma))
    return u, s, float(_harmonic(u, s))


def gamma_sweep_loop(scores: Any, labels: Any, seen: Any, unseen: Any, gammas: Any) -> Sweep:
    """Reference sweep: re-score the whole set once per gamma (slow; for tests, benchmarks)."""
    arrays = _gzsl_arrays(scores, labels, seen, unseen)
    gammas = _numpy(gammas, np.float64).ravel()
    us = np.array([_gzsl_at(*arrays, g) for g in gammas]).reshape(-1, 2)
    return Sweep(gammas, us[:, 0], us[:, 1], _harmonic(us[:, 0], us[:, 1]))


def _side(t: np.ndarray, labels: np.ndarray, member: np.ndarray, hit: np.ndarray) -> _Steps:
    """Step data of the images in ``member``; ``hit``: label is the image's best class there."""
    if not member.any():
        raise UserError("no labelled images of the classes to evaluate")
    present, pos = np.unique(labels[member], return_inverse=True)
    hit = hit[member]
    pos = pos.ravel()
    return _Steps(t[member][hit], pos[hit], np.bincount(pos, minlength=present.size))


def _prepare(
    scores: np.ndarray, labels: np.ndarray, seen: np.ndarray, unseen: np.ndarray
) -> tuple[_Steps, _Steps]:
    """(unseen side, seen side) step data from validated GZSL inputs."""
    seen_scores, unseen_scores = scores[:, seen], scores[:, unseen]
    best_seen = seen[np.argmax(seen_scores, axis=1)]
    best_unseen = unseen[np.argmax(unseen_scores, axis=1)]
    t = seen_scores.max(axis=1) - unseen_scores.max(axis=1)
    is_unseen = np.isin(labels, unseen)
    return (
        _side(t, labels, is_unseen, best_unseen == labels),
        _side(t, labels, ~is_unseen, best_seen == labels),
    )


def _counts_at_or_below(steps: _Steps, thresholds: np.ndarray) -> np.ndarray:
    """``(len(thresholds), n_classes)``: per class, hits with critical gamma <= threshold."""
    uniq, rank = np.unique(steps.t, return_inverse=True)
    stride = uniq.size + 1
    keys = np.sort(steps.cls * stride + rank.ravel())  # sorted by class, then critical gamma
    base = np.arange(steps.total.size) * stride
    below = np.searchsorted(uniq, thresholds, side="right")  # distinct t values <= threshold
    return np.searchsorted(keys, base + below[:, None]) - np.searchsorted(keys, base)


def _curves(unseen: _Steps, seen: _Steps, gammas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """U(gamma), S(gamma) for all gammas: unseen hits count from t <= gamma, seen below t."""
    u = _mean_rate(_counts_at_or_below(unseen, gammas), unseen.total)
    seen_hits = np.bincount(seen.cls, minlength=seen.total.size)
    s = _mean_rate(seen_hits - _counts_at_or_below(seen, gammas), seen.total)
    return u, s


def _critical(unseen: _Steps, seen: _Steps) -> np.ndarray:
    return np.unique(np.concatenate([unseen.t, seen.t]))


def _exact_grid(unseen: _Steps, seen: _Steps) -> np.ndarray:
    t = _critical(unseen, seen)
    if t.size == 0:
        return np.zeros(1)
    return np.concatenate([[t[0] - 1.0], (t[:-1] + t[1:]) / 2, [t[-1] + 1.0]])


def _sweep(unseen: _Steps, seen: _Steps, gammas: Any) -> Sweep:
    gammas = _numpy(gammas, np.float64).ravel()
    if gammas.size == 0:
        raise UserError("empty gamma grid")
    u, s = _curves(unseen, seen, gammas)
    return Sweep(gammas, u, s, _harmonic(u, s))


def _ausuc(unseen: _Steps, seen: _Steps) -> float:
    thresholds = np.concatenate([[-np.inf], _critical(unseen, seen)])
    u, s = _curves(unseen, seen, thresholds)
    return ausuc_from_curve(u, s)


def _best(sweep: Sweep) -> int:
    """Index of the best H; among ties, the middle one (centre of a plateau)."""
    best = np.flatnonzero(sweep.h == sweep.h.max())
    return int(best[best.size // 2])


def critical_gammas(scores: Any, labels: Any, seen: Any, unseen: Any) -> np.ndarray:
    """Sorted distinct gammas at which U or S changes."""
    return _critical(*_prepare(*_gzsl_arrays(scores, labels, seen, unseen)))


def exact_gamma_grid(scores: Any, labels: Any, seen: Any, unseen: Any) -> np.ndarray:
    """The default grid: one gamma per interval on which U and S are constant."""
    return _exact_grid(*_prepare(*_gzsl_arrays(scores, labels, seen, unseen)))


def gamma_grid(lo: float, hi: float, step: float) -> np.ndarray:
    """Regular grid lo, lo + step, ..., hi (inclusive), e.g. from ``eval.gamma_steps``."""
    if step <= 0 or hi < lo:
        raise UserError(f"gamma grid needs lo <= hi and step > 0, got {lo}, {hi}, {step}")
    return lo + step * np.arange(int(round((hi - lo) / step)) + 1)


def gamma_sweep(scores: Any, labels: Any, seen: Any, unseen: Any, gammas: Any) -> Sweep:
    """U, S, H (fractions) for every gamma of ``gammas`` at once (no per-gamma re-scoring)."""
    return _sweep(*_prepare(*_gzsl_arrays(scores, labels, seen, unseen)), gammas)


def ausuc_from_curve(unseen: Any, seen: Any) -> float:
    """Area under the seen-unseen curve through points ordered by increasing U (trapezoids)."""
    u, s = np.asarray(unseen, np.float64), np.asarray(seen, np.float64)
    return float(np.sum(np.diff(u) * (s[1:] + s[:-1]) / 2))


def ausuc(scores: Any, labels: Any, seen: Any, unseen: Any) -> float:
    """Exact AUSUC (fraction of the unit square) over all critical gammas."""
    return _ausuc(*_prepare(*_gzsl_arrays(scores, labels, seen, unseen)))


class Calibration(NamedTuple):
    """How the GZSL gamma is decided (``eval.calibration``, ``eval.fixed_gamma``, ``eval.gamma_steps``)."""

    how: str = "test-sweep"  # val | test-sweep | fixed
    fixed: Optional[float] = None  # the gamma of ``fixed`` (eval.fixed_gamma)
    val: Optional[float] = None  # the gamma of ``val``: chosen on the validation split
    grid: Optional[np.ndarray] = None  # the gammas swept (None: the exact grid)

    @classmethod
    def from_config(cls, cfg: EvalConfig, val_gamma: Optional[float] = None) -> "Calibration":
        grid = gamma_grid(*cfg.gamma_steps) if cfg.gamma_steps else None
        return cls(cfg.calibration, cfg.fixed_gamma, val_gamma, grid)

    def sweeping(self) -> "Calibration":
        """The labelled best-H calibration over the same grid."""
        return Calibration("test-sweep", grid=self.grid)


def decide_gamma(calibration: Calibration, sweep: Sweep) -> float:
    """The gamma ``calibration`` applies to a split whose ``sweep`` (over ``calibration.grid``)
    is given: its best H for ``test-sweep`` (ties: the middle one), else the given gamma."""
    how = calibration.how
    if how not in CALIBRATIONS:
        raise UserError(f"calibration must be one of {', '.join(CALIBRATIONS)}, got '{how}'")
    if how == "test-sweep":
        return float(sweep.gammas[_best(sweep)])
    gamma = calibration.fixed if how == "fixed" else calibration.val
    if gamma is None:
        raise UserError("calibration 'fixed' needs a gamma (eval.fixed_gamma)" if how == "fixed" else
                        "eval.calibration=val needs a gamma chosen on validation (train with train.select=val)")
    return float(gamma)


def _swept(scores: Any, labels: Any, seen: Any, unseen: Any, grid: Any) -> tuple[tuple[_Steps, _Steps], Sweep]:
    """Step data of validated GZSL inputs and their sweep over ``grid`` (None: exact)."""
    steps = _prepare(*_gzsl_arrays(scores, labels, seen, unseen))
    return steps, _sweep(*steps, _exact_grid(*steps) if grid is None else grid)


def choose_gamma(
    val_scores: Any, val_labels: Any, val_seen: Any, val_unseen: Any, grid: Optional[Any] = None
) -> float:
    """The gamma of ``grid`` (default: the exact grid) maximising H on a validation split.

    The validation split's held-out seen classes act as ``val_unseen``; ties between gammas
    go to the middle of the best ones.
    """
    _, sweep = _swept(val_scores, val_labels, val_seen, val_unseen, grid)
    return decide_gamma(Calibration("test-sweep", grid=grid), sweep)


def evaluate_scores(
    scores: Any, labels: Any, seen: Any, unseen: Any, calibration: Calibration,
    val: Optional[Sequence[Any]] = None,
) -> dict[str, Any]:
    """All metrics of one score matrix on the test split, in percent, with the gamma of
    ``calibration`` (:func:`decide_gamma`). With ``val`` = (scores, labels, seen, unseen) of a
    validation split, the gamma of ``val`` is chosen there (:func:`choose_gamma`).

    Keys: ``zsl_top1``, ``gzsl_unseen``, ``gzsl_seen``, ``gzsl_h``, ``ausuc``, ``gamma``,
    ``calibration``; extras: ``gzsl_{unseen,seen,h}_uncalibrated`` (gamma 0),
    ``test_sweep_gamma``, ``test_sweep_h`` (for comparison), and ``val_gzsl_h`` with ``val``.
    """
    extras: dict[str, Any] = {}
    if val is not None:
        calibration = calibration._replace(val=choose_gamma(*val, grid=calibration.grid))
        extras["val_gzsl_h"] = 100 * gzsl_accuracy(*val, gamma=calibration.val)[2]
    test = _gzsl_arrays(scores, labels, seen, unseen)
    steps, sweep = _swept(*test, calibration.grid)
    chosen = decide_gamma(calibration, sweep)
    best = _best(sweep)
    at = _sweep(*steps, [chosen, 0.0])
    return {
        "zsl_top1": 100 * zsl_accuracy(test[0], test[1], test[3]),
        "gzsl_unseen": 100 * float(at.unseen[0]),
        "gzsl_seen": 100 * float(at.seen[0]),
        "gzsl_h": 100 * float(at.h[0]),
        "ausuc": 100 * _ausuc(*steps),
        "gamma": chosen,
        "calibration": calibration.how,
        "gzsl_unseen_uncalibrated": 100 * float(at.unseen[1]),
        "gzsl_seen_uncalibrated": 100 * float(at.seen[1]),
        "gzsl_h_uncalibrated": 100 * float(at.h[1]),
        "test_sweep_gamma": float(sweep.gammas[best]),
        "test_sweep_h": 100 * float(sweep.h[best]),
        **extras,
    }


STAGE_KEYS = ("zsl_top1", "ausuc", "test_sweep_gamma", "test_sweep_h")  # of every stage entry
STAGE_GZSL_KEYS = ("gzsl_unseen", "gzsl_seen", "gzsl_h", "gamma")  # under the run's calibration


def _stage_entry(scores: np.ndarray, labels: Sequence[int], seen: np.ndarray, unseen: np.ndarray,
                 calibration: Calibration, gamma: Optional[float]) -> dict[str, Any]:
    """One stage's metrics: calibration-free ones, and its GZSL under ``calibration`` with
    ``gamma`` as its validation gamma (left out for ``val`` without one)."""
    gzsl = calibration.how != "val" or gamma is not None
    m = evaluate_scores(scores, labels, seen, unseen, calibration._replace(val=gamma) if gzsl else
                        calibration.sweeping())
    return {k: m[k] for k in STAGE_KEYS + (STAGE_GZSL_KEYS if gzsl else ())}


def stage_gammas(scores: torch.Tensor, labels: Sequence[int], seen: np.ndarray, unseen: np.ndarray,
                 grid: Optional[Any] = None) -> list[float]:
    """Each stage's best-H gamma on a (validation) split's per-stage scores (N, L, K)."""
    return [choose_gamma(scores[:, l].numpy(), labels, seen, unseen, grid) for l in range(scores.shape[1])]


def stage_metrics(
    scores: torch.Tensor, labels: Sequence[int], seen: np.ndarray, unseen: np.ndarray, calibration: Calibration,
    per_stage: bool = True, class_names: Optional[Sequence[str]] = None,
    stage_val_gammas: Optional[Sequence[float]] = None,
) -> dict[str, Any]:
    """Metrics of the fused (Eq. 14) score from per-stage scores (N, L, K).

    Per-stage entries report the calibration-free ZSL top-1 and AUSUC, the (labelled)
    test-sweep gamma and H, and the stage's U, S, H and gamma under the run's calibration
    (for ``val``: with each stage's own validation gamma, ``stage_val_gammas``; left out for
    runs saved without them). With ``class_names``, ``zsl_per_class`` lists every unseen
    class's ZSL top-1 (:func:`per_class_report`).
    """
    fused = scores.sum(1).numpy()
    out = evaluate_scores(fused, labels, seen, unseen, calibration)
    if per_stage:
        gammas = list(stage_val_gammas) if stage_val_gammas is not None else [None] * scores.shape[1]
        out["stages"] = [_stage_entry(scores[:, l].numpy(), labels, seen, unseen, calibration, gammas[l])
                         for l in range(scores.shape[1])]
    if class_names is not None:
        counts = zsl_confusion(fused, labels, unseen)  # unseen-class rows only
        out["zsl_per_class"] = per_class_report(counts, [class_names[c] for c in unseen])
    return out


def per_class_report(counts: np.ndarray, names: Sequence[str]) -> list[dict[str, Any]]:
    """One entry per class of a ZSL confusion matrix (rows: true class): ``class``,
    ``images``, ``top1`` (%, ``None`` without images), and the class most often predicted
    instead (``confused_with``, ``None`` when there is no error) with its share of the
    images (``confused_share``, %)."""
    report = []
    for i, name in enumerate(names):
        total = int(counts[i].sum())
        wrong = counts[i].copy()
        wrong[i] = 0
        j = int(wrong.argmax())
        report.append({
            "class": name,
            "images": total,
            "top1": 100 * counts[i, i] / total if total else None,
            "confused_with": names[j] if wrong[j] else None,
            "confused_share": 100 * wrong[j] / total if total else 0.0,
        })
    return report
