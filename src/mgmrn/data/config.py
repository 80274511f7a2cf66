"""Data configuration (the ``data.*`` keys)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mgmrn.data.synthetic import SyntheticConfig
from mgmrn.errors import UserError

FORMATS = ("xlsa17", "cub100", "folder", "synthetic")


@dataclass
class DataConfig:
    """Where the data is and how it is read."""

    format: str = "synthetic"  # xlsa17 | cub100 | folder | synthetic
    root: str = ""  # dataset root (meaning depends on format)
    dataset: str = "CUB"  # xlsa17: CUB | AWA2 | SUN
    splits: str = ""  # xlsa17/cub100: folder holding <DATASET>/att_splits.mat
    w2v: str = ""  # attribute word vectors (.pkl/.npy); "" = format default; "none" = learnable
    semantics: str = "att"  # xlsa17/cub100: att | original_att
    image_size: int = 448
    batch_size: int = 32
    sampler: str = "random"  # random | episodic
    ways: int = 8
    shots: int = 2
    val_classes: float = 0.2  # fraction of seen classes held out as pseudo-unseen
    val_images: float = 0.1  # fraction of remaining seen-class train images held out
    val_seed: int = 0
    on_corrupt: str = "stop"  # stop | skip
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise UserError(f"data.format must be one of {', '.join(FORMATS)}, got '{self.format}'")
