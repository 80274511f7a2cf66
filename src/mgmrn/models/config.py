"""Model configuration (the ``model.*`` keys)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from mgmrn.bounds import FLOAT32_MAX, require
from mgmrn.errors import UserError
from mgmrn.utils.settings import setting

VARIANTS = ("baseline", "mgm-no-rfm", "mgm", "mrm-no-scab", "full")
HEAD_DESIGNS = ("paper", "reference")


@dataclass
class ModelConfig:
    """Mg-MRN architecture. Keys marked *contract* are public and stable.

    ``head_design`` sets four choices at once; each may be overridden on its own
    (``None`` means "as ``head_design`` says"):

    ============== =============================== ==================================
    key            paper (default)                 reference code
    ============== =============================== ==================================
    common         ``pool-project``: average-pool  ``conv-gn-relu``: 3x3 conv to C +
                   to HxW, then a 1x1 projection   GroupNorm(32) + ReLU, then bilinear
                                                   downsampling
    spatial_mask   ``single``: one-channel map     ``channel``: C-channel map (3x3)
    channel_reduction  16 (SE-style MLP)           1 (C -> C -> C)
    detach_coarse  false                           true (coarse features detached)
    ============== =============================== ==================================
    """

    backbone: str = setting("resnet101", "contract: any timm CNN with features_only")
    pretrained: Union[bool, str] = setting("auto", "contract: auto | none | path to .pth/.safetensors")
    stages: int = setting(3, "contract: L, the last L stage maps of the backbone (1..5)")
    prototypes: Union[int, list[int]] = setting(7, "contract: N_p, one int or one per stage")
    region_pooling: str = setting("paper", "contract: paper (Eq. 2 literally) | region (region-pooled features)")
    variant: str = setting("full", "contract: Table III row: baseline | mgm-no-rfm | mgm | mrm-no-scab | full")
    head_design: str = setting("paper", "paper | reference: sets common, spatial_mask, channel_reduction and "
                                        "detach_coarse at once (see ModelConfig)")
    common: Optional[str] = setting(None, "pool-project | conv-gn-relu (null: as head_design says)")
    spatial_mask: Optional[str] = setting(None, "single | channel (null: as head_design says)")
    spatial_kernel: int = setting(3, "kernel size of v_l^s (Eq. 4), odd")
    channel_reduction: Optional[int] = setting(None, "r in W1: C -> C/r (Eq. 5) (null: as head_design says)")
    detach_coarse: Optional[bool] = setting(None, "stop gradients from finer into coarser stages "
                                                  "(null: as head_design says)")
    coarsest_fusion: str = setting("none", "none: the coarsest stage keeps its HW tokens | self: s_L = G_L(g_L)")
    fusion_tokens: str = setting("concat", "concat: [g_l; u_hat_l], 2HW tokens (Eq. 7) | add: g_l + u_hat_l, "
                                           "HW tokens")
    fusion_drop: float = setting(0.0, "training only (not in the paper): drop-path probability of each "
                                      "sample's u_hat_l (Eq. 6), kept ones scaled by 1 / (1 - p); 0: off")
    common_stage: int = setting(1, "whose H x W is the common one, counted from the last (1: coarsest)")
    channels: int = setting(2048, "C of the common HxWxC map; 0: the last stage's channels")
    hidden: int = setting(1024, "VSD attention width")
    token_norm: bool = setting(True, "LayerNorm of each g_l over channels, before SCAB (paper silent; "
                                     "false = literal)")
    attention_scale: bool = setting(True, "Eq. 8's 1/sqrt(d); the reference code omits it")
    attribute_embedding: str = setting("paper", "paper: V = w_att W_l (Eq. 10) | free: learnable V")
    query_dim: int = setting(300, "width of learnable attribute queries when the data has no word vectors")
    scale: float = setting(20.0, "cosine-score scale (temperature) in Eq. 11 and Eq. 14")

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise UserError(f"model.variant must be one of {', '.join(VARIANTS)}, got '{self.variant}'")
        if self.head_design not in HEAD_DESIGNS:
            raise UserError(f"model.head_design must be paper or reference, got '{self.head_design}'")
        if not 1 <= self.stages <= 5:
            raise UserError(f"model.stages must be between 1 and 5, got {self.stages}")
        if self.region_pooling not in ("paper", "region"):
            raise UserError(f"model.region_pooling must be paper or region, got '{self.region_pooling}'")
        if self.common_stage < 1:
            raise UserError(f"model.common_stage must be >= 1, got {self.common_stage}")
        if self.coarsest_fusion not in ("self", "none"):
            raise UserError(f"model.coarsest_fusion must be self or none, got '{self.coarsest_fusion}'")
        if self.fusion_tokens not in ("concat", "add"):
            raise UserError(f"model.fusion_tokens must be concat or add, got '{self.fusion_tokens}'")
        if not 0.0 <= self.fusion_drop < 1.0:
            raise UserError(f"model.fusion_drop must be in [0, 1), got {self.fusion_drop}")
        if self.common not in (None, "pool-project", "conv-gn-relu"):
            raise UserError(f"model.common must be pool-project or conv-gn-relu, got '{self.common}'")
        if self.spatial_mask not in (None, "single", "channel"):
            raise UserError(f"model.spatial_mask must be single or channel, got '{self.spatial_mask}'")
        if self.attribute_embedding not in ("paper", "free"):
            raise UserError(f"model.attribute_embedding must be paper or free, got '{self.attribute_embedding}'")
        require("model.scale", self.scale, 0.0, FLOAT32_MAX, above=True)
        for key in ("hidden", "query_dim", "spatial_kernel", "channel_reduction"):
            require(f"model.{key}", getattr(self, key), 1)
        require("model.channels", self.channels, 0)
        if self.spatial_kernel % 2 == 0:
            raise UserError(f"model.spatial_kernel must be odd (the mask keeps the map's size), got {self.spatial_kernel}")
        protos = self.prototypes if isinstance(self.prototypes, list) else [self.prototypes]
        if any(p < 1 for p in protos):
            raise UserError(f"model.prototypes must be >= 1, got {self.prototypes}")
        if isinstance(self.pretrained, bool):
            self.pretrained = "auto" if self.pretrained else "none"

    def prototypes_per_stage(self) -> list[int]:
        """N_p for each of the L stages (finest first)."""
        if isinstance(self.prototypes, list):
            return list(self.prototypes)
        return [self.prototypes] * self.stages

    def resolved(self, key: str) -> object:
        """The effective value of a head-design choice (explicit override or the design's)."""
        reference = self.head_design == "reference"
        defaults = {
            "common": "conv-gn-relu" if reference else "pool-project",
            "spatial_mask": "channel" if reference else "single",
            "channel_reduction": 1 if reference else 16,
            "detach_coarse": reference,
        }
        value = getattr(self, key)
        return defaults[key] if value is None else value
