"""Evaluation of a model on a pair of (seen, unseen) test splits: fused and per-stage."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from mgmrn.engine.distributed import gather_rows
from mgmrn.engine.inputs import Inputs
from mgmrn.engine.loop import predict_attributes
from mgmrn.engine.metrics import evaluate_scores, gamma_grid, zsl_confusion


def predict_split(
    inputs: Inputs, samples: Sequence[tuple[str, int]], device: torch.device, amp: str, desc: str
) -> tuple[Tensor, list[int]]:
    """Per-stage attribute predictions (N, L, A) for ``samples``, gathered over ranks, and their
    labels; images skipped as unreadable (``data.on_corrupt=skip``) are left out of both.
    With ``eval.tta_flip`` each prediction is the mean over the image and its mirror image."""
    views = (False, True) if inputs.cfg.eval.tta_flip else (False,)
    total, present = None, torch.ones(len(samples), dtype=torch.bool)
    for mirror in views:  # matched by sample index: each view leaves out what it could not read
        loader = inputs.eval_loader(samples, mirror=mirror)
        z, _, index = predict_attributes(inputs.model, loader, device, amp, f"{desc} (mirrored)" if mirror else desc)
        z, kept = gather_rows(index, z, len(samples))
        total, present = z if total is None else total + z, present & kept
    z = total / len(views)
    return z[present], [y for (_, y), kept in zip(samples, present.tolist()) if kept]


def score_metrics(
    seen_scores: Tensor,
    seen_labels: Sequence[int],
    unseen_scores: Tensor,
    unseen_labels: Sequence[int],
    seen: np.ndarray,
    unseen: np.ndarray,
    *,
    calibration: str,
    gamma: float | None,
    grid: np.ndarray | None = None,
    per_stage: bool = True,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Metrics of the fused (Eq. 14) score from per-stage scores (N, L, K).

    ``calibration="val"`` and ``"fixed"`` apply the given ``gamma`` (for ``val`` it was
    chosen on the validation split during training); ``"test-sweep"`` takes the best H on
    the test set itself. Per-stage entries report the calibration-free ZSL top-1 and AUSUC
    and the (labelled) test-sweep H. With ``class_names``, ``zsl_per_class`` lists every
    unseen class's ZSL top-1 (:func:`per_class_report`).
    """
    labels = np.concatenate([np.asarray(seen_labels), np.asarray(unseen_labels)])

    def one(scores: Tensor, how: str) -> dict[str, Any]:
        return evaluate_scores(scores.numpy(), labels, seen, unseen,
                               calibration="fixed" if how == "val" else how, gamma=gamma, grid=grid)

    both = torch.cat([seen_scores, unseen_scores])
    fused = both.sum(1)
    out = one(fused, calibration)
    out["calibration"] = calibration
    if per_stage:
        keys = ("zsl_top1", "ausuc", "test_sweep_h")
        out["stages"] = [{k: one(both[:, l], "test-sweep")[k] for k in keys} for l in range(both.shape[1])]
    if class_names is not None:
        counts = zsl_confusion(fused.numpy(), labels, unseen)  # unseen-class rows only
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


def sweep_grid(gamma_steps: Sequence[float]) -> np.ndarray | None:
    """``eval.gamma_steps`` as a grid (``None``: the exact grid)."""
    return gamma_grid(*gamma_steps) if gamma_steps else None
