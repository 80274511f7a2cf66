"""Optimiser and learning-rate schedule from ``train.*``."""

from __future__ import annotations

import math

import torch

from mgmrn.config.training import TrainConfig
from mgmrn.models.mgmrn import MgMRN


def base_rates(cfg: TrainConfig) -> tuple[float, float]:
    """The learning rates of the two parameter groups, (heads, backbone), before the schedule."""
    return cfg.head_lr or cfg.lr, cfg.lr


def build_optimizer(model: MgMRN, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (paper: lr 5e-4, momentum 0.9, wd 1e-4) or Adam(W); heads may use ``head_lr``."""
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    ids = {id(p) for p in model.backbone.parameters()}
    heads = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    rates = base_rates(cfg)
    groups = [{"params": heads, "lr": rates[0]}]
    if backbone:
        groups.append({"params": backbone, "lr": rates[1]})
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(cfg: TrainConfig, epoch: int) -> float:
    """The learning-rate multiplier of (0-based) ``epoch``: a function of ``train.*`` and the
    epoch only, so a resumed run follows its (possibly changed) config from where it stopped.

    ``step``: ``lr_decay ** (epoch // lr_step_epochs)`` (reference: x0.1 every 10 epochs); ``cosine``:
    from 1 down towards 0 over ``train.epochs``; ``none``: 1. With ``train.frozen_epochs`` and
    ``train.finetune_lr_schedule=restart`` the end-to-end epochs start the schedule again, over
    the epochs left; ``continue`` runs one schedule over all epochs.
    """
    start, length = 0, cfg.epochs
    if cfg.frozen_epochs and cfg.finetune_lr_schedule == "restart" and epoch >= cfg.frozen_epochs:
        start, length = cfg.frozen_epochs, cfg.epochs - cfg.frozen_epochs
    step = epoch - start
    if cfg.lr_schedule == "step":
        return cfg.lr_decay ** (step // cfg.lr_step_epochs)
    if cfg.lr_schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * step / max(length, 1)))
    return 1.0


def set_learning_rates(optimizer: torch.optim.Optimizer, cfg: TrainConfig, epoch: int) -> None:
    """Set every group's hyper-parameters for ``epoch`` from ``cfg``: its rate (heads:
    ``head_lr`` or ``lr``; backbone: ``lr``) times :func:`lr_factor`, weight decay, momentum.
    Called at each epoch's start, also after a checkpoint's optimizer state was loaded."""
    factor = lr_factor(cfg, epoch)
    for rate, group in zip(base_rates(cfg), optimizer.param_groups):  # built as [heads, backbone]
        group["lr"] = rate * factor
        group["weight_decay"] = cfg.weight_decay
        if "momentum" in group:
            group["momentum"] = cfg.momentum
