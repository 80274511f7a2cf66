"""The Multi-Granularity Mutual Refinement Network (Fig. 1): backbone pyramid + L stage heads."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mgmrn.models.backbone import BackbonePyramid, build_backbone
from mgmrn.models.config import ModelConfig
from mgmrn.models.stage import StageHead


def effective_stages(cfg: ModelConfig) -> int:
    """L actually used: the ``baseline`` variant uses the backbone's last stage only."""
    return 1 if cfg.variant == "baseline" else cfg.stages


class MgMRN(nn.Module):
    """Backbone stages -> MgM (RFM, common shape) -> MRM (SCAB) -> VSD per stage.

    ``forward(images)`` returns the predicted attribute vectors z_l of every stage,
    (B, L, A), finest stage first; :mod:`mgmrn.models.scoring` turns them into class scores
    (Eq. 11, 14) and :mod:`mgmrn.training.losses` into losses (Eq. 11-13).

    Args:
        cfg: model configuration.
        n_attributes: A, the number of attributes.
        attribute_vectors: (A, d_w) attribute word vectors for the VSD queries; ``None``
            makes the queries learnable (``cfg.query_dim`` wide).
        backbone: a ready backbone pyramid (default: built from ``cfg``).
    """

    def __init__(
        self,
        cfg: ModelConfig,
        n_attributes: int,
        attribute_vectors: Tensor | None = None,
        backbone: BackbonePyramid | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        L = effective_stages(cfg)
        self.backbone = backbone if backbone is not None else build_backbone(cfg.backbone, L, cfg.pretrained)
        if len(self.backbone.channels) != L:
            raise ValueError(f"backbone returns {len(self.backbone.channels)} stages, model needs {L}")
        if attribute_vectors is None:
            self.w_att = nn.Parameter(torch.randn(n_attributes, cfg.query_dim) * 0.1)
        else:
            if attribute_vectors.shape[0] != n_attributes:
                raise ValueError(
                    f"attribute vectors have {attribute_vectors.shape[0]} rows for {n_attributes} attributes"
                )
            self.register_buffer("w_att", attribute_vectors.float().clone())
        channels = cfg.channels or self.backbone.channels[-1]
        protos = cfg.prototypes_per_stage()[-L:]
        fused = cfg.variant in ("mrm-no-scab", "full")
        own = 1 if cfg.coarsest_fusion == "self" else 0  # what refines the coarsest stage
        self.stages = nn.ModuleList(
            StageHead(
                cfg,
                in_channels=c_l,
                channels=channels,
                regions=protos[i],
                sources=max(own, L - 1 - i) if fused else 0,
                word_dim=self.w_att.shape[1],
                n_attributes=n_attributes,
            )
            for i, c_l in enumerate(self.backbone.channels)
        )

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def forward(self, images: Tensor | list[Tensor], return_attention: bool = False):
        """Images (B, 3, H, W), or already computed backbone stage maps (a list, finest first)."""
        maps = list(images) if isinstance(images, (list, tuple)) else self.backbone(images)
        return self.forward_maps(maps, return_attention)

    def token_grid(self, maps: list[Tensor]) -> tuple[int, int]:
        """The common H x W every stage is brought to (``model.common_stage``)."""
        return tuple(maps[-min(self.cfg.common_stage, len(maps))].shape[-2:])  # type: ignore[return-value]

    def forward_maps(self, maps: list[Tensor], return_attention: bool = False):
        """Heads only, from backbone stage maps (finest first): z (B, L, A) [, attention].

        ``attention`` is one (B, A, T) tensor per stage: Eq. 8's weights over the stage's
        T tokens, its own H x W first, then (with fusion) the H x W SCAB tokens (Eq. 7).
        """
        size = self.token_grid(maps)
        g = [stage.mine(f, size) for stage, f in zip(self.stages, maps)]
        zs, attns = [], []
        for i, stage in enumerate(self.stages):
            # Coarser stages refine finer ones; the coarsest has none (coarsest_fusion=self:
            # it refines itself; otherwise its head has no fusion and ignores the sources).
            sources = g[i + 1 :] or [g[i]]
            z, attn = stage.decoder(stage.tokens(g[i], sources), self.w_att, return_attention=True)
            zs.append(z)
            attns.append(attn)
        z = torch.stack(zs, 1)
        return (z, attns) if return_attention else z
