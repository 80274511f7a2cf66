"""The training loss, Eq. (11)-(13) (configured by ``loss.*``: ``config/training.py``), and the criterion of a phase."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mgmrn.config.training import LossConfig
from mgmrn.models.scoring import stage_scores

if TYPE_CHECKING:
    from mgmrn.config import Config


def semantic_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Eq. (11) per stage: logits (B, L, K_seen), targets (B,) local seen indices -> (L,)."""
    B, L, K = logits.shape
    loss = F.cross_entropy(logits.reshape(B * L, K), targets.repeat_interleave(L), reduction="none")
    return loss.view(B, L).mean(0)


def attribute_regression(z: Tensor, target: Tensor, normalize: bool = False) -> Tensor:
    """Eq. (12) per stage: ``1/N sum_i ||z_l - z_hat||^2``; z (B, L, A), target (B, A) -> (L,).

    ``normalize=True`` compares L2-normalised vectors (the reference code's choice).
    """
    z = z.float()
    target = target.float().unsqueeze(1)
    if normalize:
        z, target = F.normalize(z, dim=-1), F.normalize(target, dim=-1)
    return (z - target).pow(2).sum(-1).mean(0)


def self_calibration(logits: Tensor, num_seen: int) -> Tensor:
    """Self-calibration per stage (not in the paper; TransZero's L_SC, mean over classes).

    logits (B, L, K) over the seen classes (the first ``num_seen``) and the classes without
    training images (the rest); returns (L,): ``-mean_u log p_u``, p the softmax over all K.
    It raises the unseen classes' probability on seen images, a learned form of calibration.
    """
    log_p = torch.log_softmax(logits, dim=-1)[..., num_seen:]
    return -log_p.mean(-1).mean(0)


class Criterion:
    """Eq. (13)'s summands for one training phase: per stage ``L_SCE + w * L_AR`` (Eq. 11, 12),
    plus ``sc_weight * L_SC`` over the classes without training images in the phase.

    ``attributes`` (K, A) are every class's; ``seen`` the global ids of the phase's training
    classes. Labels given to :meth:`stage_losses` are global ids. ``parts`` lists what one
    optimiser step minimises: ``None``, the sum over stages (Eq. 13; ``train.stage_updates=joint``),
    or each stage's loss in turn (``per-stage``, the reference code).
    """

    def __init__(self, cfg: LossConfig, scale: float, attributes: Tensor, seen: Sequence[int],
                 parts: Sequence[int | None]) -> None:
        self.cfg, self.scale, self.parts = cfg, scale, list(parts)
        seen = torch.as_tensor(seen, dtype=torch.long)
        self.label_map = torch.full((len(attributes),), -1, dtype=torch.long)  # global id -> seen index
        self.label_map[seen] = torch.arange(len(seen))
        self.seen_attributes = attributes[seen]
        self.unseen_attributes = attributes[self.label_map < 0]  # every class without training images

    @classmethod
    def for_run(cls, cfg: "Config", attributes: Tensor, seen: Sequence[int], num_stages: int) -> "Criterion":
        """As a run's config says (``loss.*``, ``model.scale``, ``train.stage_updates``)."""
        parts = [None] if cfg.train.stage_updates == "joint" else list(range(num_stages))
        return cls(cfg.loss, cfg.model.scale, attributes, seen, parts)

    def to(self, device: torch.device) -> "Criterion":
        self.seen_attributes = self.seen_attributes.to(device)
        self.unseen_attributes = self.unseen_attributes.to(device)
        return self

    def stage_losses(self, z: Tensor, labels: Tensor) -> Tensor:
        """Per-stage losses (L,) of predictions z (B, L, A) for images of global ``labels``."""
        z = z.float()
        seen = self.seen_attributes
        local = self.label_map[labels].to(seen.device)
        loss = semantic_cross_entropy(stage_scores(z, seen, self.scale), local)
        loss = loss + self.cfg.ar_weight * attribute_regression(z, seen[local], self.cfg.ar_normalize)
        if self.cfg.sc_weight > 0 and len(self.unseen_attributes):
            every = stage_scores(z, torch.cat([seen, self.unseen_attributes]), self.scale)
            loss = loss + self.cfg.sc_weight * self_calibration(every, len(seen))
        return loss

    def __call__(self, z: Tensor, labels: Tensor, part: int | None = None) -> Tensor:
        """The loss one optimiser step minimises: Eq. (13) (``part=None``) or stage ``part``'s."""
        losses = self.stage_losses(z, labels)
        return losses.sum() if part is None else losses[part]
