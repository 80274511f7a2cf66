"""Conversion of every stage's map to one common H x W x C (end of MgM, Section III-B1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _ContiguousGrad(torch.autograd.Function):
    """Identity forward; makes the incoming gradient contiguous in the backward pass."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        return grad.contiguous()


class Pointwise(nn.Linear):
    """A 1x1 convolution on (B, C, H, W) computed as one matrix product over positions.

    Same function as ``nn.Conv2d(c_in, c_out, 1)``; CPU backends often run 1x1 convolutions
    on a slow generic path, a matrix product never. The product's input gradient is
    position-major (channels-last strides); it is made contiguous once here, because pooling's
    backward and the elementwise backward passes before it are several times slower on such
    strides (``benchmarks/heads_step.py`` measures the difference).
    """

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(_ContiguousGrad.apply(x).movedim(1, -1)).movedim(-1, 1)


class PositionNorm(nn.LayerNorm):
    """LayerNorm over the channels of every position of a (B, C, H, W) map."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class ToCommonShape(nn.Module):
    """Bring a (B, C_l, H_l, W_l) map to (B, C, H, W).

    ``pool-project`` (paper design, cheap): average-pool to H x W first, then a 1x1
    projection to C (identity when C_l == C). ``conv-gn-relu`` (reference code): a 3x3
    convolution to C at the stage's own resolution, GroupNorm(32), ReLU, then bilinear
    downsampling to H x W.
    """

    def __init__(self, in_channels: int, channels: int, mode: str = "pool-project") -> None:
        super().__init__()
        self.mode = mode
        if mode == "pool-project":
            self.proj = nn.Identity() if in_channels == channels else Pointwise(in_channels, channels)
        else:
            self.proj = nn.Sequential(
                nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                nn.GroupNorm(min(32, channels), channels),
                nn.ReLU(inplace=True),
            )

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Maps larger than ``size`` are reduced, smaller ones (``model.common_stage`` > 1)
        upsampled bilinearly after the projection."""
        if self.mode == "pool-project" and x.shape[-2] > size[0]:
            x = F.adaptive_avg_pool2d(x, size)
        x = self.proj(x)
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x
