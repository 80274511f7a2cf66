"""Data configuration (the ``data.*`` keys)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mgmrn.data.synthetic import SyntheticConfig
from mgmrn.bounds import require
from mgmrn.errors import UserError
from mgmrn.utils.settings import setting

FORMATS = ("xlsa17", "cub100", "folder", "synthetic")
DATASETS = ("CUB", "AWA2", "SUN")
SEMANTICS = ("att", "original_att")
NORMALIZATIONS = ("none", "l2", "minmax", "zscore")
SAMPLERS = ("random", "episodic")
ON_CORRUPT = ("stop", "skip")


@dataclass
class DataConfig:
    """Where the data is and how it is read, normalised, split and batched."""

    format: str = setting("synthetic", "xlsa17 | cub100 | folder | synthetic")
    # xlsa17: folder holding CUB_200_2011/, Animals_with_Attributes2/, SUN/; cub100: the CUB-100
    # folder; folder: ROOT with images/, class_attributes.csv, splits.csv
    root: str = setting("", "dataset root (synthetic: where the generated set is written; \"\": "
                            "under data.generated_dir)")
    dataset: str = setting("CUB", "xlsa17: CUB | AWA2 | SUN")
    # "" = the first of ROOT/xlsa17, ROOT/../xlsa17, ROOT/xlsa17/data, ROOT/../xlsa17/data
    splits: str = setting("", "xlsa17/cub100: folder holding <DATASET>/att_splits.mat (\"\": found beside ROOT)")
    # "": xlsa17/cub100: w2v/<DATASET>_attribute.pkl beside the splits folder or ROOT; folder:
    # ROOT/attribute_vectors.npy; else none. A folder holds <DATASET>_attribute.pkl
    w2v: str = setting("", "attribute word vectors: \"\" (the format's default if present) | a .pkl/.npy "
                           "file or folder | none (learned queries) | text (embed the names; mgmrn[text])")
    # GloVe vectors of CUB's attribute phrases have a mean pairwise cosine of 0.55; centred,
    # about 0: decorrelates the VSD's queries and Eq. 10's V = w_att W. See docs/notebook.md
    center_vectors: bool = setting(False, "subtract the mean attribute vector (not in the paper)")
    # "": folder: the CSV header; CUB: attributes.txt when found; else attribute_<i>
    attribute_names: str = setting("", "file of attribute names, one per line, optionally \"<id> <name>\" "
                                       "(\"\": the format's default)")
    semantics: str = setting("att", "xlsa17/cub100 class semantics: att (L2-normalised) | original_att (raw)")
    normalize: str = setting("l2", "class-semantics normalisation: none | l2 (unit-length classes) | minmax "
                                   "(each attribute to [0, 1]) | zscore (each attribute standardised)")
    image_size: int = setting(448, "side of the square network input in pixels (train: random crop; test: "
                                   "center crop)")
    crop_pct: float = setting(0.875, "share of the resized image the crop keeps: resize to image_size / "
                                     "crop_pct, then crop (1.0: the whole shorter side)")
    # under torchrun with N processes the global batch is N x batch_size and an epoch has 1/N as many steps
    batch_size: int = setting(32, "images per training batch with the random sampler, per process")
    sampler: str = setting("random", "training batches: random (shuffled) | episodic (ways classes x shots "
                                     "images each)")
    ways: int = setting(8, "episodic sampler: classes per batch")
    shots: int = setting(2, "episodic sampler: images per class per batch (batch size = ways * shots)")
    val_classes: float = setting(0.2, "validation: fraction of seen classes held out as pseudo-unseen (0: none)")
    val_images: float = setting(0.1, "validation: fraction of each remaining seen class's training images "
                                     "held out")
    val_seed: int = setting(0, "validation: seed of the held-out classes and images")
    on_corrupt: str = setting("stop", "an unreadable image met while loading: stop (error naming the file) | "
                                      "skip (count it)")
    generated_dir: str = setting("", "where generated data sets go when data.root is \"\" (\"\": "
                                     "$XDG_CACHE_HOME/mgmrn or ~/.cache/mgmrn)")
    # the generated demo set (format synthetic)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    def __post_init__(self) -> None:
        choices = {
            "format": FORMATS, "dataset": DATASETS, "semantics": SEMANTICS,
            "normalize": NORMALIZATIONS, "sampler": SAMPLERS, "on_corrupt": ON_CORRUPT,
        }
        for key, allowed in choices.items():
            value = getattr(self, key)
            if value not in allowed:
                raise UserError(f"data.{key} must be one of {', '.join(allowed)}, got '{value}'")
        for key in ("image_size", "batch_size", "ways", "shots"):
            if getattr(self, key) < 1:
                raise UserError(f"data.{key} must be >= 1, got {getattr(self, key)}")
        if not 0.0 < self.crop_pct <= 1.0:
            raise UserError(f"data.crop_pct must be in (0, 1], got {self.crop_pct}")
        for key in ("val_classes", "val_images"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise UserError(f"data.{key} must be in [0, 1), got {getattr(self, key)}")
        require("data.val_seed", self.val_seed, 0)
        if self.val_classes > 0 and self.val_images == 0:
            raise UserError("data.val_images must be > 0 when data.val_classes > 0: validation H needs "
                            "held-out images of the training classes")
