"""Class scores: Eq. (11)'s logits and Eq. (14)'s fused score (the losses: ``training/losses.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def stage_scores(z: Tensor, class_attributes: Tensor, scale: float) -> Tensor:
    """Scaled cosine similarity of every stage's prediction to every class.

    z: (B, L, A) predicted attribute vectors; class_attributes: (K, A).
    Returns (B, L, K): ``scale * cos(z_l, a_c)`` (the logits of Eq. 11).
    """
    zn = F.normalize(z.float(), dim=-1)
    an = F.normalize(class_attributes.float(), dim=-1)
    return scale * torch.einsum("bla,ka->blk", zn, an)


def fused_scores(z: Tensor, class_attributes: Tensor, scale: float) -> Tensor:
    """Eq. (14): the class score summed over stages, (B, K)."""
    return stage_scores(z, class_attributes, scale).sum(1)
