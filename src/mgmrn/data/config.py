"""Data configuration (the ``data.*`` keys)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mgmrn.data.synthetic import SyntheticConfig
from mgmrn.bounds import require
from mgmrn.errors import UserError

FORMATS = ("xlsa17", "cub100", "folder", "synthetic")
DATASETS = ("CUB", "AWA2", "SUN")
SEMANTICS = ("att", "original_att")
NORMALIZATIONS = ("none", "l2", "minmax", "zscore")
SAMPLERS = ("random", "episodic")
ON_CORRUPT = ("stop", "skip")


@dataclass
class DataConfig:
    """Where the data is and how it is read, normalised, split and batched."""

    # xlsa17 | cub100 | folder | synthetic
    format: str = "synthetic"
    # dataset root. xlsa17: folder holding CUB_200_2011/, Animals_with_Attributes2/, SUN/;
    # cub100: the CUB-100 folder; folder: ROOT with images/, class_attributes.csv, splits.csv;
    # synthetic: where the generated set is written ("" = a cache folder, see cache_dir)
    root: str = ""
    # xlsa17: CUB | AWA2 | SUN
    dataset: str = "CUB"
    # xlsa17/cub100: folder holding <DATASET>/att_splits.mat (and res101.mat when present);
    # "" = the first of ROOT/xlsa17, ROOT/../xlsa17, ROOT/xlsa17/data, ROOT/../xlsa17/data
    splits: str = ""
    # attribute word vectors: "" = the format's default if present (xlsa17/cub100:
    # w2v/<DATASET>_attribute.pkl beside the splits folder or ROOT; folder:
    # ROOT/attribute_vectors.npy), else none; a .pkl/.npy file, or a folder holding
    # <DATASET>_attribute.pkl; "none" = no vectors (the model learns attribute queries);
    # "text" = embed the attribute names (needs `pip install mgmrn[text]`)
    w2v: str = ""
    # subtract the mean attribute vector (GloVe vectors of CUB's attribute phrases have a
    # mean pairwise cosine of 0.55; centred, about 0): decorrelates the VSD's queries and
    # Eq. 10's V = w_att W. Not in the paper (default off); see docs/notebook.md
    center_vectors: bool = False
    # file of attribute names (one per line, optionally "<id> <name>"); "" = the format's
    # default (folder: the CSV header; CUB: attributes.txt when found; else attribute_<i>)
    attribute_names: str = ""
    # xlsa17/cub100 class semantics: att (L2-normalised) | original_att (raw values)
    semantics: str = "att"
    # class-semantics normalisation: none | l2 (each class vector to unit length) |
    # minmax (each attribute scaled to [0, 1] over classes) | zscore (each attribute to
    # zero mean, unit variance over classes)
    normalize: str = "l2"
    # side of the square network input in pixels (train: random crop; test: center crop)
    image_size: int = 448
    # share of the resized image's shorter side that the crop keeps: images are resized to
    # image_size / crop_pct, then cropped to image_size (0.875: the usual ImageNet
    # evaluation; 1.0: the whole shorter side, i.e. all of a square image)
    crop_pct: float = 0.875
    # images per training batch with the random sampler, per process: under torchrun with N
    # processes the global batch is N x batch_size and an epoch has 1/N as many steps
    batch_size: int = 32
    # training batches: random (shuffled) | episodic (ways classes x shots images each)
    sampler: str = "random"
    # episodic sampler: classes per batch
    ways: int = 8
    # episodic sampler: images per class per batch (batch size = ways * shots)
    shots: int = 2
    # validation: fraction of seen classes held out as pseudo-unseen (0 = none)
    val_classes: float = 0.2
    # validation: fraction of each remaining seen class's training images held out
    val_images: float = 0.1
    # validation: seed of the held-out classes and images
    val_seed: int = 0
    # an unreadable image met while loading: stop (error naming the file) | skip (count it)
    on_corrupt: str = "stop"
    # where generated sets go when data.root is "" ("" = $XDG_CACHE_HOME/mgmrn or
    # ~/.cache/mgmrn)
    cache_dir: str = ""
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
