"""Training configuration: ``train.*`` and the loss, ``loss.*``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mgmrn.bounds import FLOAT32_MAX, require
from mgmrn.errors import UserError
from mgmrn.utils.settings import setting

# Beyond these no optimiser here (SGD, Adam, AdamW) takes a step that training can recover from:
# Adam moves every weight by about lr a step, SGD by lr times its gradient.
MAX_LR = 10.0
MAX_WEIGHT_DECAY = 1.0


@dataclass
class TrainConfig:
    """Optimisation. Defaults follow the paper (SGD, lr 5e-4, momentum 0.9, wd 1e-4, batch 32)."""

    epochs: int = setting(30, "epochs per phase (selection, then refit); with train.select=val the best is kept")
    optimizer: str = setting("sgd", "sgd | adamw | adam")
    lr: float = setting(5e-4, "learning rate (of the backbone; of the heads too unless train.head_lr)")
    head_lr: Optional[float] = setting(None, "learning rate of the heads (null: train.lr)")
    momentum: float = setting(0.9, "SGD momentum")
    weight_decay: float = setting(1e-4, "weight decay of every parameter group")
    lr_schedule: str = setting("step", "learning-rate schedule over the epochs: step | cosine | none")
    lr_step_epochs: int = setting(10, "lr_schedule step: epochs between decays (reference: 10)")
    lr_decay: float = setting(0.1, "lr_schedule step: factor applied to the learning rate at each decay")
    stage_updates: str = setting("joint", "joint: one update on the loss summed over stages (Eq. 13) | "
                                          "per-stage: one update per stage's loss (reference)")
    freeze_backbone: bool = setting(False, "keep the backbone fixed and train the heads on its cached stage maps")
    frozen_epochs: int = setting(0, "linear probe, then fine-tune: the first N epochs train the heads alone on "
                                    "cached maps, then the whole network trains")
    freeze_bn: bool = setting(False, "fine-tuning: the backbone's BatchNorm keeps its running statistics "
                                     "(affine parameters still train); false: batch statistics")
    finetune_lr_schedule: str = setting("continue", "the end-to-end epochs after frozen_epochs: continue (one "
                                                    "schedule over all epochs) | restart (the schedule again)")
    feature_cache_dir: str = setting("", "folder of the backbone feature caches (\"\": $MGMRN_CACHE or "
                                         "~/.cache/mgmrn/features)")
    amp: str = setting("auto", "precision: auto (bf16 on a GPU that has it, else fp16; bf16 on a CPU with native "
                               "bf16, else float32) | bf16 | fp16 (GPU) | none")
    channels_last: bool = setting(True, "channels-last memory format (GPU only)")
    deterministic: bool = setting(False, "use deterministic algorithms only (slower)")
    max_batches: int = setting(0, "batches per epoch (0: one pass over the data)")
    select: str = setting("val", "model selection: val (the epoch of best validation H) | last (the last epoch)")
    refit: bool = setting(False, "after selection on validation, retrain on all training images")
    workers: int = setting(2, "DataLoader worker processes for images (0: load in the main process)")

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adamw", "adam"):
            raise UserError(f"train.optimizer must be sgd, adam or adamw, got '{self.optimizer}'")
        if self.finetune_lr_schedule not in ("continue", "restart"):
            raise UserError("train.finetune_lr_schedule must be continue or restart, "
                            f"got '{self.finetune_lr_schedule}'")
        if self.lr_schedule not in ("step", "cosine", "none"):
            raise UserError(f"train.lr_schedule must be step, cosine or none, got '{self.lr_schedule}'")
        if self.stage_updates not in ("joint", "per-stage"):
            raise UserError(f"train.stage_updates must be joint or per-stage, got '{self.stage_updates}'")
        if self.amp not in ("auto", "bf16", "fp16", "none"):
            raise UserError(f"train.amp must be auto, bf16, fp16 or none, got '{self.amp}'")
        if self.select not in ("val", "last"):
            raise UserError(f"train.select must be val or last, got '{self.select}'")
        for key in ("lr", "head_lr"):
            require(f"train.{key}", getattr(self, key), 0.0, MAX_LR)
        require("train.weight_decay", self.weight_decay, 0.0, MAX_WEIGHT_DECAY)
        require("train.momentum", self.momentum, 0.0, 1.0, below=True)
        require("train.lr_decay", self.lr_decay, 0.0, 1.0, above=True)
        require("train.epochs", self.epochs, 1)
        require("train.lr_step_epochs", self.lr_step_epochs, 1)
        for key in ("frozen_epochs", "max_batches", "workers"):
            require(f"train.{key}", getattr(self, key), 0)


@dataclass
class LossConfig:
    """Eq. (11)-(13)."""

    ar_weight: float = setting(1.0, "weight of Eq. 12, the attribute regression (paper 1; reference code 0.1)")
    ar_normalize: bool = setting(False, "L2-normalise prediction and target before Eq. 12 (reference)")
    sc_weight: float = setting(0.0, "weight of a self-calibration term (not in the paper: TransZero's): -mean "
                                    "log p over the classes without training images; 0: off")

    def __post_init__(self) -> None:
        for key in ("ar_weight", "sc_weight"):
            require(f"loss.{key}", getattr(self, key), 0.0, FLOAT32_MAX)
