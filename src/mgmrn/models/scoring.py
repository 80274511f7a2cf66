"""Class scores and losses, Eq. (11)-(14)."""

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


def semantic_cross_entropy(logits: Tensor, targets: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Eq. (11) per stage: logits (B, L, K_seen), targets (B,) local seen indices -> (L,).

    ``label_smoothing`` (not in the paper) mixes the one-hot target with the uniform one.
    """
    B, L, K = logits.shape
    loss = F.cross_entropy(logits.reshape(B * L, K), targets.repeat_interleave(L), reduction="none",
                           label_smoothing=label_smoothing)
    return loss.view(B, L).mean(0)


def fused_cross_entropy(logits: Tensor, targets: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of the stages' mean logits (not in the paper): trains the ensemble that
    Eq. (14) ranks by (the mean keeps one stage's scale), not only each stage. logits
    (B, L, K_seen), targets (B,) -> scalar."""
    return F.cross_entropy(logits.mean(1), targets, label_smoothing=label_smoothing)


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


def stage_losses(
    z: Tensor,
    labels: Tensor,
    seen_attributes: Tensor,
    *,
    scale: float,
    ar_weight: float = 1.0,
    ar_normalize: bool = False,
    unseen_attributes: Tensor | None = None,
    sc_weight: float = 0.0,
    label_smoothing: float = 0.0,
    fused_weight: float = 0.0,
    mixed_with: tuple[Tensor, float] | None = None,
) -> Tensor:
    """Per-stage ``L_SCE + w * L_AR`` (the summands of Eq. 13), shape (L,).

    labels are local indices into ``seen_attributes`` (K_seen, A). With ``sc_weight > 0``
    and ``unseen_attributes`` (K_u, A), ``sc_weight * L_SC`` (:func:`self_calibration`) is added;
    ``label_smoothing`` goes to :func:`semantic_cross_entropy`; ``fused_weight *``
    :func:`fused_cross_entropy` is shared equally by the L entries. ``mixed_with=(other_labels,
    lam)`` (mixup) weighs the two label sets' ``L_SCE + w * L_AR`` by ``lam`` and ``1 - lam``;
    ``L_SC`` does not depend on the labels and is counted once.
    """
    logits = stage_scores(z, seen_attributes, scale)

    def supervised(targets: Tensor) -> Tensor:
        sce = semantic_cross_entropy(logits, targets, label_smoothing)
        out = sce + ar_weight * attribute_regression(z, seen_attributes[targets], ar_normalize)
        if fused_weight > 0:
            out = out + fused_weight * fused_cross_entropy(logits, targets, label_smoothing) / logits.shape[1]
        return out

    loss = supervised(labels)
    if mixed_with is not None:
        other, lam = mixed_with
        loss = lam * loss + (1 - lam) * supervised(other)
    if sc_weight > 0 and unseen_attributes is not None and len(unseen_attributes):
        every = stage_scores(z, torch.cat([seen_attributes, unseen_attributes]), scale)
        loss = loss + sc_weight * self_calibration(every, len(seen_attributes))
    return loss


def total_loss(z: Tensor, labels: Tensor, seen_attributes: Tensor, **kwargs: object) -> Tensor:
    """Eq. (13): the loss summed over stages."""
    return stage_losses(z, labels, seen_attributes, **kwargs).sum()  # type: ignore[arg-type]
