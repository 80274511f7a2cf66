"""One training epoch and attribute prediction over a loader."""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterable, Sequence

import torch
from torch import Tensor

from mgmrn.engine.config import LossConfig, TrainConfig
from mgmrn.errors import UserError
from mgmrn.models.scoring import stage_losses
from mgmrn.utils.progress import progress


def amp_dtype(device: torch.device, amp: str) -> torch.dtype | None:
    """The autocast dtype: on GPU ``auto`` = bf16 where supported, else fp16; on CPU only
    ``bf16`` when asked (``auto`` keeps float32 there)."""
    if amp == "none" or device.type not in ("cpu", "cuda"):
        return None
    if device.type == "cpu":
        return torch.bfloat16 if amp == "bf16" else None
    if amp == "fp16" or (amp == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """Mixed precision as :func:`amp_dtype` says (a no-op when it says float32)."""
    dtype = amp_dtype(device, amp)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def local_labels(num_classes: int, seen: Sequence[int] | Tensor) -> Tensor:
    """Global class id -> index among ``seen`` (-1 for the other classes), for ``train_epoch``."""
    seen = torch.as_tensor(seen, dtype=torch.long)
    label_map = torch.full((num_classes,), -1, dtype=torch.long)
    label_map[seen] = torch.arange(len(seen))
    return label_map


def to_device(batch_input: Tensor | list[Tensor], device: torch.device, channels_last: bool) -> Tensor | list[Tensor]:
    """Images (or a list of cached stage maps) to ``device``, channels-last on GPU if asked."""
    fmt = torch.channels_last if channels_last and device.type == "cuda" else torch.contiguous_format
    if isinstance(batch_input, (list, tuple)):
        return [x.to(device, non_blocking=True, memory_format=fmt) for x in batch_input]
    return batch_input.to(device, non_blocking=True, memory_format=fmt)


def mix_batch(inputs: Tensor | list[Tensor], alpha: float) -> tuple[Tensor | list[Tensor], Tensor, float]:
    """Mixup: ``lam * x + (1 - lam) * x[perm]`` for every input tensor, lam ~ Beta(alpha, alpha).

    Returns the mixed inputs, ``perm`` and ``lam`` (drawn from torch's global generator).
    """
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
    perm = torch.randperm(first.shape[0], device=first.device)
    if isinstance(inputs, (list, tuple)):
        return [x * lam + x[perm] * (1 - lam) for x in inputs], perm, lam
    return inputs * lam + inputs[perm] * (1 - lam), perm, lam


def train_epoch(
    forward: Callable[[Tensor | list[Tensor]], Tensor],
    optimizer: torch.optim.Optimizer,
    loader: Iterable,
    label_map: Tensor,
    seen_attributes: Tensor,
    *,
    scale: float,
    num_stages: int,
    unseen_attributes: Tensor | None = None,
    loss_cfg: LossConfig,
    train_cfg: TrainConfig,
    device: torch.device,
    scaler: torch.amp.GradScaler | None = None,
    after_step: Callable[[], None] | None = None,
    desc: str = "train",
) -> dict[str, float]:
    """Train for one pass over ``loader`` (which yields inputs, global labels, indices).

    ``train.schedule == "joint"``: one forward and one backward pass on the summed loss
    (Eq. 13). ``"per-stage"`` (reference code): per batch, L forward/backward passes and L
    optimiser steps, one per stage loss. ``label_map`` maps global labels to local seen
    indices (-1 elsewhere); ``unseen_attributes`` (the classes without training images) feed
    ``loss.sc_weight``'s self-calibration term. With ``train.mixup`` the batch is mixed
    (:func:`mix_batch`) and the loss is ``lam * loss(labels) + (1 - lam) * loss(labels[perm])``.
    ``after_step`` is called after every optimiser step (e.g. a weight average's update).
    """
    total, count, start = 0.0, 0, time.perf_counter()
    bar = progress(loader, desc)
    for inputs, labels, _ in bar:
        inputs = to_device(inputs, device, train_cfg.channels_last)
        local = label_map[labels].to(device)
        perm, lam = None, 1.0
        if train_cfg.mixup > 0:
            inputs, perm, lam = mix_batch(inputs, train_cfg.mixup)

        def step(pick: Callable[[Tensor], Tensor]) -> float:
            with autocast(device, train_cfg.amp):
                z = forward(inputs)
            losses = stage_losses(
                z.float(), local, seen_attributes, scale=scale,
                ar_weight=loss_cfg.ar_weight, ar_normalize=loss_cfg.ar_normalize,
                unseen_attributes=unseen_attributes, sc_weight=loss_cfg.sc_weight,
                label_smoothing=loss_cfg.label_smoothing, fused_weight=loss_cfg.fused_weight,
                mixed_with=None if perm is None else (local[perm], lam),
            )
            loss = pick(losses)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            if after_step is not None:
                after_step()
            return float(loss.detach())

        if train_cfg.schedule == "joint":
            step_loss = step(lambda losses: losses.sum())
        else:
            step_loss = sum(step(lambda losses, l=l: losses[l]) for l in range(num_stages))
        if not torch.isfinite(torch.tensor(step_loss)):
            raise UserError(f"training diverged (loss {step_loss}) in '{desc}'; lower train.lr")
        total += step_loss * len(labels)
        count += len(labels)
        bar.set_postfix(loss=f"{step_loss:.3f}", img_s=f"{count / (time.perf_counter() - start):.1f}")
    if count == 0:
        raise UserError(f"no training batch in '{desc}': the epoch has fewer batches than processes "
                        "(raise train.max_batches, or lower data.batch_size or the process count)")
    seconds = time.perf_counter() - start
    return {"loss": total / max(count, 1), "images": count, "seconds": seconds, "img_s": count / max(seconds, 1e-9)}


@torch.no_grad()
def predict_attributes(
    forward: Callable[[Tensor | list[Tensor]], Tensor],
    loader: Iterable,
    device: torch.device,
    amp: str = "none",
    desc: str = "eval",
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-stage attribute predictions over a fixed-order loader: z (N, L, A), labels, indices."""
    zs, labels, indices = [], [], []
    for inputs, y, idx in progress(loader, desc):
        with autocast(device, amp):
            zs.append(forward(to_device(inputs, device, False)).float().cpu())
        labels.append(torch.as_tensor(y))
        indices.append(torch.as_tensor(idx))
    if not zs:  # an empty DDP shard, or every image skipped as unreadable
        return torch.empty(0), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    return torch.cat(zs), torch.cat(labels), torch.cat(indices)
