"""Class scores (Eq. 11's per stage) of sample lists, and a model's test metrics."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn

from mgmrn.config import Config
from mgmrn.data.build import ZSLData
from mgmrn.evaluation.confidence import probability_report
from mgmrn.evaluation.metrics import Calibration, stage_metrics
from mgmrn.models.scoring import stage_scores
from mgmrn.runtime.distributed import gather_rows
from mgmrn.runtime.inputs import Batch, Inputs, InputSource, Samples
from mgmrn.runtime.precision import autocast
from mgmrn.utils.progress import progress


@torch.no_grad()
def predict_attributes(model: nn.Module, batches: Iterable[Batch],
                       autocast: Callable[[], contextlib.AbstractContextManager],
                       desc: str = "eval") -> tuple[Tensor, Tensor, Tensor]:
    """Per-stage attribute predictions over fixed-order batches: z (N, L, A), labels, indices."""
    zs, labels, indices = [], [], []
    for inputs, y, idx in progress(batches, desc):
        with autocast():
            zs.append(model(inputs).float().cpu())
        labels.append(torch.as_tensor(y))
        indices.append(torch.as_tensor(idx))
    if not zs:  # an empty DDP shard, or every image skipped as unreadable
        return torch.empty(0), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    return torch.cat(zs), torch.cat(labels), torch.cat(indices)


@dataclass
class Evaluator:
    """Scores sample lists with ``model`` reading ``source`` against every class's
    ``attributes`` (K, A) at ``scale`` (Eq. 11), under ``amp``'s autocast."""

    model: nn.Module
    source: InputSource
    attributes: Tensor
    scale: float
    device: torch.device
    amp: str = "none"

    @classmethod
    def for_run(cls, model: nn.Module, source: InputSource, cfg: Config, attributes: Tensor,
                device: torch.device) -> "Evaluator":
        """As a run's config says (``model.scale``, ``train.amp``)."""
        return cls(model, source, attributes, cfg.model.scale, device, cfg.train.amp)

    def predict(self, samples: Samples, desc: str) -> tuple[Tensor, list[int]]:
        """Per-stage attribute predictions (N, L, A) of ``samples``, gathered over processes,
        and their labels; images skipped as unreadable (``data.on_corrupt=skip``) are left out
        of both."""
        batches = self.source.eval_batches(samples)
        z, _, index = predict_attributes(self.model, batches, lambda: autocast(self.device, self.amp), desc)
        z, kept = gather_rows(index, z, len(samples))
        return z[kept], [y for (_, y), k in zip(samples, kept.tolist()) if k]

    def scores(self, seen: Samples, unseen: Samples, what: str) -> tuple[Tensor, list[int]]:
        """Per-stage class scores (N, L, K) of the ``seen`` then the ``unseen`` classes'
        samples, and their labels."""
        self.model.eval()
        z_s, y_s = self.predict(seen, f"{what} seen")
        z_u, y_u = self.predict(unseen, f"{what} unseen")
        s_s, s_u = (stage_scores(z, self.attributes, self.scale) for z in (z_s, z_u))
        return torch.cat([s_s, s_u]), y_s + y_u


def evaluate_checkpoint_model(
    model: nn.Module, inputs: Inputs, data: ZSLData, cfg: Config, device: torch.device, gamma: float | None,
    temperature: float | None = None, stage_val_gammas: list[float] | None = None,
) -> dict[str, Any]:
    """Test metrics (fused and per stage) under ``eval.*``; ``gamma``, ``temperature`` and each
    stage's gamma: the ones chosen on validation (``probabilities``: how well the temperature serves, with the
    metrics' gamma, :func:`mgmrn.evaluation.confidence.probability_report`)."""
    scores, labels = run_evaluator(model, inputs, data, cfg, device).scores(data.test_seen, data.test_unseen, "test")
    return checkpoint_metrics(scores, labels, data, cfg, gamma, temperature, stage_val_gammas)


def run_evaluator(model: nn.Module, inputs: Inputs, data: ZSLData, cfg: Config, device: torch.device) -> Evaluator:
    """An :class:`Evaluator` of ``model`` against every class of ``data``, as the run's config says."""
    attributes = torch.as_tensor(data.attributes, dtype=torch.float32)
    return Evaluator.for_run(model, inputs.source(cfg.train.freeze_backbone), cfg, attributes, device)


def checkpoint_metrics(
    scores: Tensor, labels: list[int], data: ZSLData, cfg: Config, gamma: float | None,
    temperature: float | None = None, stage_val_gammas: list[float] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate_checkpoint_model`'s metrics of the test splits' per-stage scores (N, L, K)."""
    metrics = stage_metrics(scores, labels, data.seen, data.unseen, Calibration.from_config(cfg.eval, gamma),
                            class_names=data.classes, stage_val_gammas=stage_val_gammas)
    metrics["probabilities"] = probability_report(scores.sum(1).numpy(), labels, data.seen, data.unseen,
                                                  metrics["gamma"], temperature)
    return metrics
