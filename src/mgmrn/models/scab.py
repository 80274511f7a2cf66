"""MRM's Spatial-Channel Attention Block (SCAB), Eq. (3)-(7)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mgmrn.models.common import Pointwise


def flatten_tokens(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, HW, C): the spatial flattening delta(.) of Eq. (7)."""
    return x.flatten(2).transpose(1, 2)


@dataclass(frozen=True)
class AttentionMasks:
    """SCAB's masks: the spatial mask's output channels (``"single"`` or ``"channel"``) and
    its kernel k, Eq. (4); the channel mask's reduction r, Eq. (5)."""

    spatial: str = "single"
    kernel: int = 3
    reduction: int = 16


class SpatialChannelAttention(nn.Module):
    """Fuse coarser stages into one stage and return its 2HW tokens.

    Eq. (3): ``s = G(concat[coarser g])`` with G a 1x1 convolution (a fully connected layer
    per position). Eq. (4): spatial mask ``a_s = sigmoid(v * s)``, v a k x k convolution with
    one output channel (``masks.spatial="single"``) or C (``"channel"``, reference code).
    Eq. (5): channel mask ``a_c = sigmoid(W2 relu(W1 GAP(s)))`` with W1: C -> C/r.
    Eq. (6): ``u_hat = s * (a_s x a_c)``. Eq. (7): tokens = [flatten(g), flatten(u_hat)]
    (``tokens="concat"``, 2HW tokens); ``tokens="add"`` (not in the paper) gives the HW
    tokens flatten(g + u_hat) instead, so that the decoder cannot read the coarser stages'
    features apart from the stage's own. With ``attention=False`` (Table III "MRM without
    SCAB") ``u_hat = s``. ``drop`` (not in the paper): in training, each sample's u_hat is
    zeroed with this probability and scaled by 1 / (1 - drop) otherwise (drop-path on the
    fusion branch), so that the stage also learns to read its own tokens alone.
    """

    def __init__(
        self,
        channels: int,
        sources: int,
        *,
        attention: bool = True,
        masks: AttentionMasks = AttentionMasks(),
        detach_sources: bool = False,
        tokens: str = "concat",
        drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.drop = drop
        self.detach_sources = detach_sources
        self.combine = tokens
        self.fuse = Pointwise(channels * sources, channels)  # G_l, Eq. (3)
        self.attention = attention
        if attention:
            out = 1 if masks.spatial == "single" else channels
            self.spatial = nn.Conv2d(channels, out, masks.kernel, padding=masks.kernel // 2)  # v_l^s, Eq. (4)
            hidden = max(1, channels // masks.reduction)
            self.channel = nn.Sequential(  # W1, delta, W2 of Eq. (5)
                nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels)
            )

    def masks(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """Eq. (4)-(5): spatial mask (B, 1|C, H, W) and channel mask (B, C, 1, 1)."""
        a_s = torch.sigmoid(self.spatial(s))
        a_c = torch.sigmoid(self.channel(s.mean((2, 3))))[..., None, None]
        return a_s, a_c

    def forward(self, g: Tensor, sources: list[Tensor]) -> Tensor:
        if self.detach_sources:  # coarser stages only: a stage refining itself keeps its gradient
            sources = [x if x is g else x.detach() for x in sources]
        s = self.fuse(torch.cat(sources, 1))
        if self.attention:
            a_s, a_c = self.masks(s)
            s = s * (a_s * a_c)
        if self.training and self.drop > 0:
            keep = torch.rand(s.shape[0], 1, 1, 1, device=s.device) >= self.drop
            s = s * keep.to(s.dtype) / (1.0 - self.drop)
        if self.combine == "add":
            return flatten_tokens(g + s)
        return torch.cat([flatten_tokens(g), flatten_tokens(s)], 1)
