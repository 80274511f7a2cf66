"""Training configuration: ``train.*`` and the loss, ``loss.*``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mgmrn.bounds import FLOAT32_MAX, require
from mgmrn.errors import UserError

# Beyond these no optimiser here (SGD, Adam, AdamW) takes a step that training can recover from:
# Adam moves every weight by about lr a step, SGD by lr times its gradient.
MAX_LR = 10.0
MAX_WEIGHT_DECAY = 1.0


@dataclass
class TrainConfig:
    """Optimisation. Defaults follow the paper (SGD, lr 5e-4, momentum 0.9, wd 1e-4, batch 32)."""

    epochs: int = 30  # per phase (selection, then refit); with train.select=val the best is kept
    optimizer: str = "sgd"  # sgd | adamw | adam
    lr: float = 5e-4
    head_lr: Optional[float] = None  # learning rate of the heads (default: lr)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    scheduler: str = "step"  # step | cosine | none
    step_size: int = 10  # StepLR period in epochs (reference: 10)
    gamma: float = 0.1  # StepLR factor
    schedule: str = "joint"  # joint: one pass on the summed loss (Eq. 13) | per-stage (reference)
    freeze_backbone: bool = False
    # linear-probe-then-fine-tune: the first frozen_epochs epochs train the heads only, on the
    # frozen backbone's cached maps; the whole network is fine-tuned after them
    frozen_epochs: int = 0
    # keep the backbone's BatchNorm layers on their running statistics while fine-tuning
    # (their affine parameters still train); false: batch statistics, as usual
    freeze_bn: bool = False
    # the learning-rate schedule of the end-to-end epochs after frozen_epochs: continue (one
    # schedule over all epochs) | restart (the schedule starts again over the epochs left)
    finetune_schedule: str = "continue"
    cache_dir: str = ""  # feature cache folder (default: ~/.cache/mgmrn/features)
    # auto: bf16 on a GPU that has it (else fp16) and on a CPU with native bf16 (AVX512-BF16 or
    # AMX), float32 on other CPUs | bf16 (GPU or CPU; emulated and slow on other CPUs) | fp16 (GPU) | none
    amp: str = "auto"
    channels_last: bool = True  # GPU only
    deterministic: bool = False
    max_batches: int = 0  # batches per epoch (0: one pass over the data)
    select: str = "val"  # model selection: val (best validation H) | last (last epoch)
    refit: bool = False  # after selection on validation, retrain on all training images
    workers: int = 2  # DataLoader worker processes for images (0: load in the main process)

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adamw", "adam"):
            raise UserError(f"train.optimizer must be sgd, adam or adamw, got '{self.optimizer}'")
        if self.finetune_schedule not in ("continue", "restart"):
            raise UserError(f"train.finetune_schedule must be continue or restart, got '{self.finetune_schedule}'")
        if self.scheduler not in ("step", "cosine", "none"):
            raise UserError(f"train.scheduler must be step, cosine or none, got '{self.scheduler}'")
        if self.schedule not in ("joint", "per-stage"):
            raise UserError(f"train.schedule must be joint or per-stage, got '{self.schedule}'")
        if self.amp not in ("auto", "bf16", "fp16", "none"):
            raise UserError(f"train.amp must be auto, bf16, fp16 or none, got '{self.amp}'")
        if self.select not in ("val", "last"):
            raise UserError(f"train.select must be val or last, got '{self.select}'")
        for key in ("lr", "head_lr"):
            require(f"train.{key}", getattr(self, key), 0.0, MAX_LR)
        require("train.weight_decay", self.weight_decay, 0.0, MAX_WEIGHT_DECAY)
        require("train.momentum", self.momentum, 0.0, 1.0, below=True)
        require("train.gamma", self.gamma, 0.0, 1.0, above=True)
        require("train.epochs", self.epochs, 1)
        require("train.step_size", self.step_size, 1)
        for key in ("frozen_epochs", "max_batches", "workers"):
            require(f"train.{key}", getattr(self, key), 0)


@dataclass
class LossConfig:
    """Eq. (11)-(13)."""

    ar_weight: float = 1.0  # weight of Eq. 12 (paper 1; reference code 0.1)
    ar_normalize: bool = False  # L2-normalise prediction and target before Eq. 12 (reference)
    # weight of a self-calibration term (not in the paper: TransZero's L_SC): -mean log p_u over
    # the classes without training images (their attribute vectors only), p the softmax over all
    sc_weight: float = 0.0

    def __post_init__(self) -> None:
        for key in ("ar_weight", "sc_weight"):
            require(f"loss.{key}", getattr(self, key), 0.0, FLOAT32_MAX)
