"""MgM's Region Feature Mining block (RFM), Eq. (1)-(2)."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import Tensor, nn


def region_assignments(f: Tensor, prototypes: Tensor, sigma: Tensor) -> Tensor:
    """Eq. (1): soft assignment of every position to every region prototype.

    ``a[b, m, i, j] = softmax_m(-||(f[b, :, i, j] - r_m) / sigma_m||^2 / 2)``.

    Args:
        f: stage map, (B, C, H, W).
        prototypes: r_{l,m}, (M, C).
        sigma: positive smoothing factors sigma_{l,m}, (M,).
    Returns:
        (B, M, H, W) assignments summing to 1 over M.
    """
    # ||f - r||^2 = ||f||^2 - 2 f.r + ||r||^2, without materialising (B, M, C, H, W).
    f2 = f.pow(2).sum(1, keepdim=True)
    fr = torch.einsum("bchw,mc->bmhw", f, prototypes)
    r2 = prototypes.pow(2).sum(1).view(1, -1, 1, 1)
    dist = (f2 - 2 * fr + r2).clamp_min(0)
    return torch.softmax(-dist / (2 * sigma.pow(2).view(1, -1, 1, 1)), dim=1)


class RegionFeatureMining(nn.Module):
    """Learnable region prototypes and smoothing factors for one stage (Eq. 1), then Eq. (2).

    ``pooling="paper"`` is Eq. (2) as written, ``(1/M) sum_m a_m * f``; because the
    assignments sum to 1 over m this equals ``f / M`` exactly and the prototypes' gradient is
    exactly zero (see docs/method.md). It is computed in that closed form, which spares the
    assignments' forward and backward passes at every stage's full resolution
    (``benchmarks/heads_step.py``; :meth:`literal_forward` is the written order), and the
    prototypes and smoothing factors, which Eq. (2) cannot train, are frozen.
    ``pooling="region"`` pools one feature per region, ``z_m = sum_ij a_m f / sum_ij a_m``,
    and scatters it back, ``g = sum_m a_m z_m``, so the output depends on (and trains) the
    prototypes and smoothing factors.
    """

    def __init__(self, channels: int, regions: int, pooling: str = "paper") -> None:
        super().__init__()
        self.pooling = pooling
        self.prototypes = nn.Parameter(torch.randn(regions, channels))
        # sigma^2 = sqrt(C): for unit-scale features the exponents of Eq. (1) then differ by
        # O(1) between prototypes, so assignments are neither uniform nor one-hot at start.
        self.log_sigma = nn.Parameter(torch.full((regions,), 0.25 * math.log(channels)))
        if pooling == "paper":
            self.prototypes.requires_grad_(False)
            self.log_sigma.requires_grad_(False)

    @property
    def sigma(self) -> Tensor:
        return self.log_sigma.exp()

    def assignments(self, f: Tensor) -> Tensor:
        """Eq. (1) for this stage's prototypes, (B, M, H, W), computed in at least float32."""
        dtype = torch.promote_types(f.dtype, torch.float32)
        # autocast would run the einsum in bf16; the meta device (FLOP counting) has no autocast
        meta = f.device.type == "meta"
        with contextlib.nullcontext() if meta else torch.autocast(f.device.type, enabled=False):
            a = region_assignments(f.to(dtype), self.prototypes.to(dtype), self.sigma.to(dtype))
        return a.to(f.dtype)

    def forward(self, f: Tensor) -> Tensor:
        if self.pooling == "paper":
            return f / self.prototypes.shape[0]  # Eq. (2): sum_m a_m = 1
        a = self.assignments(f)
        mass = a.sum((2, 3)).clamp_min(1e-6)  # (B, M)
        z = torch.einsum("bmhw,bchw->bmc", a, f) / mass.unsqueeze(-1)
        return torch.einsum("bmhw,bmc->bchw", a, z)

    def literal_forward(self, f: Tensor) -> Tensor:
        """Eq. (2) with ``pooling="paper"`` in its written order, ``(1/M) sum_m a_m * f`` (for tests)."""
        a = self.assignments(f)
        return sum(a[:, m : m + 1] * f for m in range(a.shape[1])) / a.shape[1]
