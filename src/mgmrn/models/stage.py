"""One stage's head: RFM -> common shape -> fusion with coarser stages -> VSD.

The same class is instantiated once per stage; which parts are active follows
``model.variant`` (Table III rows).
"""

from __future__ import annotations

from torch import Tensor, nn

from mgmrn.models.common import PositionNorm, ToCommonShape
from mgmrn.models.config import ModelConfig
from mgmrn.models.rfm import RegionFeatureMining
from mgmrn.models.scab import AttentionMasks, SpatialChannelAttention, flatten_tokens
from mgmrn.models.vsd import VisualSemanticDecoder


class StageHead(nn.Module):
    """The per-stage block of Mg-MRN.

    Args:
        cfg: model configuration.
        in_channels: C_l of the backbone stage.
        channels: common C.
        regions: N_p for this stage.
        sources: number of maps fused into this stage (0: no MRM).
        word_dim: width of the attribute queries.
        n_attributes: number of attributes.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        in_channels: int,
        channels: int,
        regions: int,
        sources: int,
        word_dim: int,
        n_attributes: int,
    ) -> None:
        super().__init__()
        use_rfm = cfg.variant in ("mgm", "mrm-no-scab", "full")
        self.rfm = RegionFeatureMining(in_channels, regions, cfg.region_pooling) if use_rfm else None
        self.to_common = ToCommonShape(in_channels, channels, str(cfg.resolved("common")))
        # The token LayerNorm (the paper is silent) sits on g_l, before SCAB: on the tokens
        # after SCAB it would cancel a one-channel spatial mask (Eq. 4), LN(a u) = LN(u) for a > 0.
        self.map_norm = PositionNorm(channels) if cfg.token_norm else nn.Identity()
        self.fusion = None
        if sources:
            self.fusion = SpatialChannelAttention(
                channels,
                sources,
                attention=cfg.variant == "full",
                masks=AttentionMasks(
                    str(cfg.resolved("spatial_mask")),
                    cfg.spatial_kernel,
                    int(cfg.resolved("channel_reduction")),  # type: ignore[arg-type]
                ),
                detach_sources=bool(cfg.resolved("detach_coarse")),
                tokens=cfg.fusion_tokens,
                drop=cfg.fusion_drop,
            )
        self.decoder = VisualSemanticDecoder(
            channels,
            word_dim,
            cfg.hidden,
            n_attributes=n_attributes,
            embedding=cfg.attribute_embedding,
            scaled=cfg.attention_scale,
        )

    def mine(self, f: Tensor, size: tuple[int, int]) -> Tensor:
        """MgM for this stage: Eq. (1)-(2), then the common H x W x C (g_l)."""
        if self.rfm is not None:
            f = self.rfm(f)
        return self.map_norm(self.to_common(f, size))

    def tokens(self, g: Tensor, sources: list[Tensor]) -> Tensor:
        """MRM for this stage (Eq. 3-7): (B, 2HW, C), or (B, HW, C) without fusion or with
        ``model.fusion_tokens=add``."""
        if self.fusion is None:
            return flatten_tokens(g)
        return self.fusion(g, sources)
