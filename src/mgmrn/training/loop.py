"""The epoch loop: forward, Eq. 13's loss, optimiser step."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterable

from torch import nn

from mgmrn.errors import UserError
from mgmrn.runtime.distributed import all_sum
from mgmrn.runtime.inputs import Batch
from mgmrn.training.losses import Criterion
from mgmrn.training.step import Stepper
from mgmrn.utils.progress import progress


@dataclass
class EpochStats:
    """What an epoch of training did: its loss summed over the images, images, seconds."""

    loss_sum: float
    images: int
    seconds: float

    @property
    def loss(self) -> float:
        """The mean loss per image."""
        return self.loss_sum / self.images

    @property
    def img_s(self) -> float:
        return self.images / max(self.seconds, 1e-9)

    def over_processes(self) -> "EpochStats":
        """Loss and images summed over the DDP processes (each trained its share of the epoch)."""
        loss_sum, images = all_sum([self.loss_sum, float(self.images)])
        return EpochStats(loss_sum, int(images), self.seconds)


def train_epoch(model: nn.Module, batches: Iterable[Batch], criterion: Criterion, stepper: Stepper,
                desc: str = "train") -> EpochStats:
    """One pass over ``batches``; per batch, one step per part of ``criterion`` (Eq. 13's sum,
    or each stage's loss in turn)."""
    total, count, start = 0.0, 0, time.perf_counter()
    bar = progress(batches, desc)
    for inputs, labels, _ in bar:
        loss = 0.0
        for part in criterion.parts:
            with stepper.autocast():
                z = model(inputs)
            loss += stepper.step(criterion(z, labels, part))
        if not math.isfinite(loss):
            raise UserError(f"training diverged (loss {loss}) in '{desc}'; lower train.lr")
        total += loss * len(labels)
        count += len(labels)
        bar.set_postfix(loss=f"{loss:.3f}", img_s=f"{count / (time.perf_counter() - start):.1f}")
    if count == 0:
        raise UserError(f"no training batch in '{desc}': the epoch has fewer batches than processes "
                        "(raise train.max_batches, or lower data.batch_size or the process count)")
    return EpochStats(total, count, time.perf_counter() - start)
