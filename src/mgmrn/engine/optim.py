"""Optimiser and learning-rate schedule from ``train.*``."""

from __future__ import annotations

import torch

from mgmrn.engine.config import TrainConfig
from mgmrn.models.mgmrn import MgMRN


def build_optimizer(model: MgMRN, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (paper: lr 5e-4, momentum 0.9, wd 1e-4) or Adam(W); heads may use ``head_lr``."""
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    ids = {id(p) for p in model.backbone.parameters()}
    heads = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    groups = [{"params": heads, "lr": cfg.head_lr or cfg.lr}]
    if backbone:
        groups.append({"params": backbone, "lr": cfg.lr})
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per epoch: StepLR (reference: every 10 epochs x0.1), cosine, or constant."""
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
