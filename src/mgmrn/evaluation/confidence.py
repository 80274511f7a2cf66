"""Probabilities of the ranking: a temperature fitted on validation, and how well it serves.

The ranking a run uses is Eq. 14's fused score less the validation gamma on the seen
classes (calibrated stacking). Its softmax is the probability shown for each class; the
scores' scale (``model.scale``) was chosen for training, so the plain softmax is far too
sure of itself. Temperature scaling (Guo et al., 2017) divides the ranking scores by one
number T > 0, fitted to minimise the negative log-likelihood (NLL) of the validation
images' labels: the order of the classes, hence every accuracy, stays the same.

Measured on the test images, seen and unseen classes' images apart: the expected
calibration error (ECE, 15 equal-width bins of the top class's probability: the
image-weighted mean of |accuracy - mean confidence| over the bins, in percent) and the NLL
(nats per image), with T = 1 (the plain softmax) and with the fitted T.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numpy as np
from scipy.optimize import minimize_scalar

BINS = 15  # of the reliability diagram and the ECE
LOG_T_BOUNDS = (np.log(1e-2), np.log(1e3))  # the temperatures searched


class Reliability(NamedTuple):
    """A reliability diagram: per confidence bin, its images, their mean confidence and
    accuracy (fractions; NaN for an empty bin), and the ECE (percent)."""

    edges: np.ndarray  # (BINS + 1,)
    counts: np.ndarray  # (BINS,)
    confidence: np.ndarray  # (BINS,)
    accuracy: np.ndarray  # (BINS,)
    ece: float


def ranking_scores(scores: np.ndarray, seen: np.ndarray, gamma: float) -> np.ndarray:
    """``scores`` (N, K') less ``gamma`` on the columns where ``seen`` (K',) is true."""
    return np.asarray(scores, np.float64) - float(gamma) * np.asarray(seen, bool)


def log_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """log softmax over the last axis of ``logits / temperature`` (float64)."""
    x = np.asarray(logits, np.float64) / temperature
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def nll(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (nats) of the ``targets`` (column indices)."""
    logp = log_probabilities(logits, temperature)
    return float(-logp[np.arange(len(targets)), targets].mean())


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The T minimising :func:`nll` (searched on log T between 0.01 and 1000)."""
    found = minimize_scalar(lambda log_t: nll(logits, targets, float(np.exp(log_t))),
                            bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))


def reliability(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0, bins: int = BINS) -> Reliability:
    """The reliability diagram of the top class's probability (bins (lo, hi], the first
    closed) and its ECE."""
    p = np.exp(log_probabilities(logits, temperature))
    confidence, correct = p.max(axis=1), (p.argmax(axis=1) == targets).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, confidence, bins) / counts
        accuracy = np.bincount(index, correct, bins) / counts
    gaps = np.where(counts > 0, np.abs(accuracy - mean_conf), 0.0)
    return Reliability(edges, counts, mean_conf, accuracy, 100 * float((counts * gaps).sum() / max(len(p), 1)))


def candidate_logits(scores: Any, labels: Any, seen: Any, unseen: Any, gamma: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ranking scores over the candidate classes ``seen`` + ``unseen`` (global indices;
    ``gamma`` off the seen ones), each image's target column, and whether its class is seen."""
    seen, unseen = np.asarray(seen, np.int64), np.asarray(unseen, np.int64)
    candidates = np.concatenate([seen, unseen])
    column = np.full(int(np.asarray(scores).shape[1]), -1, dtype=np.int64)
    column[candidates] = np.arange(candidates.size)
    labels = np.asarray(labels, np.int64)
    logits = ranking_scores(np.asarray(scores, np.float64)[:, candidates], np.arange(candidates.size) < seen.size,
                            gamma)
    return logits, column[labels], np.isin(labels, seen)


def fit_on_split(scores: Any, labels: Any, seen: Any, unseen: Any, gamma: float) -> float:
    """The temperature of a (validation) split's images, ranked with ``gamma``."""
    logits, targets, _ = candidate_logits(scores, labels, seen, unseen, gamma)
    return fit_temperature(logits, targets)


def _side(logits: np.ndarray, targets: np.ndarray, temperature: Optional[float]) -> dict[str, Any]:
    """ECE and NLL of one group of images, with T = 1 and with ``temperature``; and the T
    these images alone would be fitted to (labelled: chosen on the test images)."""
    plain = reliability(logits, targets)
    out: dict[str, Any] = {"images": int(len(targets)), "ece_uncalibrated": plain.ece,
                           "nll_uncalibrated": nll(logits, targets),
                           "test_fitted_temperature": fit_temperature(logits, targets)}
    if temperature is not None:
        out.update(ece=reliability(logits, targets, temperature).ece, nll=nll(logits, targets, temperature))
    return out


def probability_report(scores: Any, labels: Any, seen: Any, unseen: Any, gamma: float,
                       temperature: Optional[float]) -> dict[str, Any]:
    """``metrics.json``'s ``probabilities``: the temperature, and per group of test images
    (``seen``, ``unseen``, ``all``: by their class) the ECE (%) and NLL (nats) with and
    without it (``None``: a run without one; only the plain softmax is measured)."""
    logits, targets, is_seen = candidate_logits(scores, labels, seen, unseen, gamma)
    groups = {"seen": is_seen, "unseen": ~is_seen, "all": np.ones_like(is_seen)}
    return {"temperature": temperature, "bins": BINS, "gamma": float(gamma),
            **{name: _side(logits[m], targets[m], temperature) for name, m in groups.items() if m.any()}}
