"""Evaluation of a model on a pair of (seen, unseen) test splits: fused and per-stage."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from mgmrn.engine.distributed import gather_rows
from mgmrn.engine.inputs import Inputs
from mgmrn.engine.loop import predict_attributes
from mgmrn.engine.metrics import evaluate_scores, gamma_grid


def predict_split(inputs: Inputs, samples: Sequence[tuple[str, int]], device: torch.device, amp: str, desc: str) -> Tensor:
    """Per-stage attribute predictions (N, L, A) for ``samples``, gathered over ranks."""
    z, _, index = predict_attributes(inputs.model, inputs.eval_loader(samples), device, amp, desc)
    return gather_rows(index, z, len(samples))


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
) -> dict[str, Any]:
    """Metrics of the fused (Eq. 14) score from per-stage scores (N, L, K).

    ``calibration="val"`` and ``"fixed"`` apply the given ``gamma`` (for ``val`` it was
    chosen on the validation split during training); ``"test-sweep"`` takes the best H on
    the test set itself. Per-stage entries report the calibration-free ZSL top-1 and AUSUC
    and the (labelled) test-sweep H.
    """
    labels = np.concatenate([np.asarray(seen_labels), np.asarray(unseen_labels)])

    def one(scores: Tensor, how: str) -> dict[str, Any]:
        return evaluate_scores(scores.numpy(), labels, seen, unseen,
                               calibration="fixed" if how == "val" else how, gamma=gamma, grid=grid)

    both = torch.cat([seen_scores, unseen_scores])
    out = one(both.sum(1), calibration)
    out["calibration"] = calibration
    if per_stage:
        keys = ("zsl_top1", "ausuc", "test_sweep_h")
        out["stages"] = [{k: one(both[:, l], "test-sweep")[k] for k in keys} for l in range(both.shape[1])]
    return out


def sweep_grid(gamma_steps: Sequence[float]) -> np.ndarray | None:
    """``eval.gamma_steps`` as a grid (``None``: the exact grid)."""
    return gamma_grid(*gamma_steps) if gamma_steps else None
