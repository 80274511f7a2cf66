"""The data layer's entry points: :func:`build_data` and :func:`make_loader`.

Labels are global class indices everywhere (into ``ZSLData.classes``); use
:func:`class_index_map` to get columns of a class subset (e.g. unseen only).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from mgmrn.data import cub100, folder, synthetic, xlsa17
from mgmrn.data.common import Sample, SourceData, check_images_exist, read_attribute_names
from mgmrn.data.config import DataConfig
from mgmrn.data.images import CorruptItem, ImageDataset
from mgmrn.data.samplers import EpisodicBatchSampler, RandomBatchSampler, RankBatches
from mgmrn.data.semantics import (
    ClassIndexMap, SemanticsNormalizer, class_index_map, embed_attribute_names, load_attribute_vectors,
)
from mgmrn.data.splits import ValSplit, make_val_split, seen_unseen_classes
from mgmrn.data.transforms import build_transforms
from mgmrn.errors import UserError
from mgmrn.utils.cache_dirs import data_cache_root

RANK_SEED_STEP = 1_000_003  # seed offset between DDP processes' augmentation streams

__all__ = [
    "ZSLData", "ValSplit", "ZSLLoader", "ClassIndexMap", "build_data", "make_loader",
    "make_batch_sampler", "Sampling", "build_transforms", "class_index_map", "synthetic_dataset",
]

log = logging.getLogger(__name__)


@dataclass
class ZSLData:
    """A zero-shot dataset: class semantics and image lists (labels: global class indices)."""

    classes: list[str]  # all class names; labels everywhere index this list
    attributes: np.ndarray  # (n_classes, n_attributes) float32, normalised as configured
    attribute_names: list[str]
    attribute_vectors: np.ndarray | None  # (n_attributes, d_w) float32; None: learnable queries
    seen: np.ndarray  # int64 global indices of the seen classes (sorted)
    unseen: np.ndarray  # int64 global indices of the unseen classes (sorted)
    train: list[Sample]
    test_seen: list[Sample]
    test_unseen: list[Sample]
    val: ValSplit
    normalizer: SemanticsNormalizer  # data.normalize fitted on these classes (applied to new ones too)
    problems: list[str] = field(default_factory=list)  # non-fatal findings
    notes: list[str] = field(default_factory=list)  # how optional parts were filled in

    def summary(self) -> dict[str, Any]:
        """Counts for ``data-info`` (keys train, test_seen, test_unseen, seen_classes,
        unseen_classes, attributes are a contract)."""
        vectors = self.attribute_vectors
        return {
            "classes": len(self.classes),
            "seen_classes": len(self.seen),
            "unseen_classes": len(self.unseen),
            "attributes": len(self.attribute_names),
            "attribute_vector_dim": None if vectors is None else int(vectors.shape[1]),
            "train": len(self.train),
            "test_seen": len(self.test_seen),
            "test_unseen": len(self.test_unseen),
            "val": {
                "train_sub": len(self.val.train_sub),
                "val_seen": len(self.val.val_seen),
                "val_unseen": len(self.val.val_unseen),
                "val_seen_classes": len(self.val.val_seen_classes),
                "val_unseen_classes": len(self.val.val_unseen_classes),
            },
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def synthetic_dataset(cfg: DataConfig) -> Path:
    """The folder-format dataset of ``cfg.synthetic``, generated on first use.

    It goes to ``data.root``, or when that is empty to a cache folder named after the
    settings; the generator reuses a folder that already holds the set for these settings.
    """
    if cfg.root:
        target = Path(cfg.root).expanduser().resolve()
    else:
        settings = json.dumps(dataclasses.asdict(cfg.synthetic), sort_keys=True)
        digest = hashlib.sha256(settings.encode()).hexdigest()[:16]
        target = data_cache_root(cfg.generated_dir).resolve() / "synthetic" / digest
    return Path(synthetic.generate_synthetic(target, cfg.synthetic))


def _read_source(cfg: DataConfig) -> SourceData:
    if cfg.format == "xlsa17":
        return xlsa17.read(cfg)
    if cfg.format == "cub100":
        return cub100.read(cfg)
    if cfg.format == "folder":
        if not cfg.root:
            raise UserError("data.root must name the dataset folder for data.format=folder")
        return folder.read(Path(cfg.root))
    return folder.read(synthetic_dataset(cfg))


def _attribute_vectors(cfg: DataConfig, source: SourceData,
                       names: list[str]) -> tuple[np.ndarray | None, str | None]:
    """Attribute word vectors as ``data.w2v`` says, and a note when there are none."""
    if cfg.w2v == "none":
        return None, None
    if cfg.w2v == "text":
        if source.generic_names and not cfg.attribute_names:
            raise UserError("data.w2v=text needs the attribute names: set data.attribute_names "
                            "to a file that lists them")
        return embed_attribute_names(names), None
    if cfg.w2v:
        path = Path(cfg.w2v).expanduser()
        if path.is_dir():
            path = path / f"{cfg.dataset}_attribute.pkl"
        return load_attribute_vectors(path, len(names)), None
    if source.vectors_default is None:
        expected = (source.semantics_file.parent / folder.VECTORS if cfg.format in ("folder", "synthetic")
                    else f"w2v/{'CUB' if cfg.format == 'cub100' else cfg.dataset}_attribute.pkl")
        return None, f"no attribute vectors ({expected} not found): the model learns attribute queries (data.w2v)"
    return load_attribute_vectors(source.vectors_default, len(names)), None


def build_data(cfg: DataConfig) -> ZSLData:
    """Read, check and split the dataset that ``cfg`` describes (images are not decoded)."""
    source = _read_source(cfg)
    check_images_exist([s for samples in source.splits.values() for s in samples], source.list_file)
    seen, unseen = seen_unseen_classes(source.splits, source.classes, source.split_file)
    n_attributes = source.attributes.shape[1]
    names = (read_attribute_names(Path(cfg.attribute_names).expanduser(), n_attributes)
             if cfg.attribute_names else source.attribute_names)
    vectors, note = _attribute_vectors(cfg, source, names)
    if vectors is not None and cfg.center_vectors:
        vectors = vectors - vectors.mean(0, keepdims=True)
    normalizer = SemanticsNormalizer.fit(source.attributes, cfg.normalize)
    attributes = normalizer(source.attributes, source.classes, source.semantics_file)
    train = source.splits["train"]
    return ZSLData(
        classes=source.classes, attributes=attributes, attribute_names=names,
        attribute_vectors=vectors, seen=seen, unseen=unseen, train=train,
        test_seen=source.splits["test_seen"], test_unseen=source.splits["test_unseen"],
        val=make_val_split(train, seen, cfg.val_classes, cfg.val_images, cfg.val_seed),
        problems=source.problems, notes=[note] if note else [], normalizer=normalizer,
    )


def _collate(items: list[Any]) -> tuple[Any, Any, Any, list[CorruptItem]]:
    """Stack the readable items; pass the corrupt ones on for the loader to judge."""
    corrupt = [item for item in items if isinstance(item, CorruptItem)]
    good = [item for item in items if not isinstance(item, CorruptItem)]
    if not good:
        return None, None, None, corrupt
    images = torch.stack([item[0] for item in good])
    labels = torch.tensor([item[1] for item in good], dtype=torch.int64)
    indices = torch.tensor([item[2] for item in good], dtype=torch.int64)
    return images, labels, indices, corrupt


class ZSLLoader(DataLoader):
    """A DataLoader of ``(images, labels, indices)`` that stops at, or skips, corrupt images.

    ``on_corrupt="stop"`` raises a UserError naming the file; ``"skip"`` leaves the image
    out, logs it once and counts it in :attr:`skipped` (path -> times skipped).
    """

    def __init__(self, dataset: ImageDataset, *, on_corrupt: str = "stop", **kwargs: Any) -> None:
        if on_corrupt not in ("stop", "skip"):
            raise ValueError(f"on_corrupt must be stop or skip, got '{on_corrupt}'")
        super().__init__(dataset, collate_fn=_collate, **kwargs)
        self.on_corrupt = on_corrupt
        self.skipped: Counter[str] = Counter()

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:  # type: ignore[override]
        for images, labels, indices, corrupt in super().__iter__():
            for item in corrupt:
                if self.on_corrupt == "stop":
                    raise UserError(f"{item.problem} (set data.on_corrupt=skip to skip such images)",
                                    item.path)
                if not self.skipped[item.path]:
                    log.warning("skipping unreadable image %s: %s", item.path, item.problem)
                self.skipped[item.path] += 1
            if images is not None:
                yield images, labels, indices


@dataclass(frozen=True)
class Sampling:
    """How training batches are drawn: seeded ``random`` batches, or ``episodic`` ones of
    ``ways`` x ``shots``; ``batches_per_epoch`` 0 means about one pass. They are shared out
    over ``world`` DDP processes, of which this one is ``rank``."""

    sampler: str = "random"
    ways: int = 8
    shots: int = 2
    batches_per_epoch: int = 0
    seed: int = 0
    rank: int = 0
    world: int = 1


def make_batch_sampler(labels: Sequence[int], batch_size: int, *, train: bool,
                       sampling: Sampling = Sampling()) -> Iterable[list[int]]:
    """Batches of indices into ``labels``' samples (see :func:`make_loader`)."""
    if not train:
        return BatchSampler(SequentialSampler(range(len(labels))), batch_size, drop_last=False)
    s = sampling
    if s.sampler == "episodic":
        batches: Any = EpisodicBatchSampler(labels, s.ways, s.shots, s.batches_per_epoch, s.seed)
    elif s.sampler == "random":
        batches = RandomBatchSampler(len(labels), batch_size, s.batches_per_epoch, s.seed)
    else:
        raise ValueError(f"sampler must be random or episodic, got '{s.sampler}'")
    return RankBatches(batches, s.rank, s.world) if s.world > 1 else batches


def make_loader(samples: list[Sample], transform: Callable[[Any], torch.Tensor], batch_size: int,
                *, train: bool, sampling: Sampling = Sampling(), workers: int = 0,
                on_corrupt: str = "stop") -> ZSLLoader:
    """A loader of ``(images, labels, indices)`` over ``samples``.

    Training: batches of ``batch_size`` drawn as ``sampling`` says. Test (``train=False``):
    every sample once, in the given order. ``indices`` index ``samples``.
    """
    batches = make_batch_sampler([label for _, label in samples], batch_size, train=train, sampling=sampling)
    return ZSLLoader(
        ImageDataset(samples, transform), batch_sampler=batches, num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        # each DDP process draws its own crops and flips (rank 0: the single-process draws)
        generator=torch.Generator().manual_seed(sampling.seed + RANK_SEED_STEP * sampling.rank),
        on_corrupt=on_corrupt,
    )
