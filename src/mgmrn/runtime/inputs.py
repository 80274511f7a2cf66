"""What the model reads: images through transforms (:class:`ImageSource`), or a frozen
backbone's stage maps from the feature cache (:class:`CachedSource`).

Both sources give training batches of an epoch and evaluation batches of a sample list (this
process's share of it, indexed into the whole list), already on the device: ``(inputs,
labels, indices)``, where inputs are images (B, 3, H, W) or a list of stage maps, finest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from mgmrn.config import Config
from mgmrn.data.build import Sampling, ZSLData, make_batch_sampler, make_loader
from mgmrn.data.config import DataConfig
from mgmrn.data.transforms import build_transforms
from mgmrn.errors import UserError
from mgmrn.models.backbone import BackbonePyramid, PooledFeatures
from mgmrn.models.mgmrn import MgMRN
from mgmrn.runtime.distributed import barrier, is_main, rank_and_world, shard
from mgmrn.storage.feature_cache import (
    CachedMaps,
    FeatureCache,
    cache_key,
    images_fingerprint,
)
from mgmrn.utils.cache_dirs import feature_cache_dir

Samples = Sequence[tuple[str, int]]
Batch = tuple[Tensor | list[Tensor], Tensor, Tensor]


@dataclass(frozen=True)
class Batching:
    """What every loader shares: batch size and sampler (``data.*``), batches per epoch and
    workers (``train.*``), the evaluation batch size, and the device (training batches are
    channels-last there on GPU with ``train.channels_last``)."""

    data: DataConfig
    max_batches: int
    workers: int
    eval_batch_size: int
    device: torch.device
    channels_last: bool

    @classmethod
    def from_config(cls, cfg: Config, device: torch.device) -> "Batching":
        t = cfg.train
        return cls(cfg.data, t.max_batches, t.workers, cfg.eval.batch_size, device, t.channels_last)

    def sampling(self, seed: int) -> Sampling:
        """How a training batch sampler draws (seeded; shared out over DDP processes)."""
        d = self.data
        rank, world = rank_and_world()
        return Sampling(d.sampler, d.ways, d.shots, self.max_batches, seed, rank, world)


class Batches:
    """A loader's batches moved to the device; ``index`` maps a shard's sample indices back
    to indices into the whole sample list."""

    def __init__(self, loader: DataLoader, device: torch.device, channels_last: bool = False,
                 index: Tensor | None = None) -> None:
        self.loader, self.device, self.index = loader, device, index
        use = channels_last and device.type == "cuda"
        self.memory_format = torch.channels_last if use else torch.contiguous_format

    def __len__(self) -> int:
        return len(self.loader)

    def _move(self, x: Tensor) -> Tensor:
        return x.to(self.device, non_blocking=True, memory_format=self.memory_format)

    def __iter__(self) -> Iterator[Batch]:
        for inputs, labels, idx in self.loader:
            moved = [self._move(x) for x in inputs] if isinstance(inputs, (list, tuple)) else self._move(inputs)
            yield moved, labels, idx if self.index is None else self.index[torch.as_tensor(idx)]


class _Source:
    """Shared evaluation batching: this process's share of the samples, in order."""

    def __init__(self, batching: Batching) -> None:
        self.batching = batching

    def readable(self, path: str) -> bool:
        """Whether the source has input for ``path`` (cached maps may lack unreadable images)."""
        return True

    def eval_batches(self, samples: Samples) -> Batches:
        """Fixed-order batches of this process's share of ``samples`` (each sample on one
        process)."""
        mine = [i for i in shard(len(samples)) if self.readable(samples[i][0])]
        loader = self._eval_loader([samples[i] for i in mine])
        return Batches(loader, self.batching.device, index=torch.tensor(mine, dtype=torch.long))

    def _eval_loader(self, samples: Samples) -> DataLoader:
        raise NotImplementedError


class ImageSource(_Source):
    """Images through the backbone's transforms (augmented for training)."""

    def __init__(self, batching: Batching, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__(batching)
        self.mean, self.std = tuple(mean), tuple(std)

    def transform(self, train: bool) -> Callable[[Any], Tensor]:
        d = self.batching.data
        return build_transforms(d.image_size, self.mean, self.std, train=train, crop_pct=d.crop_pct)

    def train_batches(self, samples: Samples, seed: int) -> Batches:
        """One epoch's training batches (seeded: resumable)."""
        b, d = self.batching, self.batching.data
        loader = make_loader(list(samples), self.transform(train=True), d.batch_size, train=True,
                             sampling=b.sampling(seed), workers=b.workers, on_corrupt=d.on_corrupt)
        return Batches(loader, b.device, b.channels_last)

    def _eval_loader(self, samples: Samples) -> DataLoader:
        b = self.batching
        return make_loader(list(samples), self.transform(train=False), b.eval_batch_size,
                           train=False, workers=b.workers, on_corrupt=b.data.on_corrupt)


class CachedSource(_Source):
    """The frozen backbone's stage maps from ``cache``; images the extraction could not read
    have none."""

    def __init__(self, batching: Batching, cache: FeatureCache) -> None:
        super().__init__(batching)
        self.cache = cache

    def readable(self, path: str) -> bool:
        return path not in self.cache.skipped

    def _maps(self, samples: Samples) -> CachedMaps:
        return CachedMaps(self.cache.arrays, [self.cache.row[p] for p, _ in samples], [y for _, y in samples])

    def train_batches(self, samples: Samples, seed: int) -> Batches:
        """One epoch's training batches (seeded: resumable)."""
        b = self.batching
        samples = [s for s in samples if self.readable(s[0])]
        sampler = make_batch_sampler([y for _, y in samples], b.data.batch_size, train=True, sampling=b.sampling(seed))
        return Batches(DataLoader(self._maps(samples), batch_sampler=sampler), b.device, b.channels_last)

    def _eval_loader(self, samples: Samples) -> DataLoader:
        return DataLoader(self._maps(samples), batch_size=self.batching.eval_batch_size, shuffle=False)


InputSource = ImageSource | CachedSource


@dataclass
class Inputs:
    """A run's input sources: images always; cached maps when the backbone is frozen (for
    training also when it is frozen for ``train.frozen_epochs``)."""

    images: ImageSource
    cached: CachedSource | None = None

    @classmethod
    def create(cls, cfg: Config, data: ZSLData, model: MgMRN, device: torch.device,
               training: bool = False) -> "Inputs":
        """Open (extracting if missing) the feature cache the run needs."""
        batching = Batching.from_config(cfg, device)
        inputs = cls(ImageSource(batching, model.backbone.mean, model.backbone.std))
        if cfg.train.freeze_backbone or (training and cfg.train.frozen_epochs > 0):
            cache = open_cache(cfg, model, inputs.images, cache_paths(data))
            inputs.cached = CachedSource(batching, cache)
        return inputs

    def source(self, frozen: bool) -> InputSource:
        """The cached maps while the backbone is frozen, the images otherwise."""
        if not frozen:
            return self.images
        assert self.cached is not None, "the feature cache is opened for frozen-backbone runs"
        return self.cached


def cache_paths(data: ZSLData) -> list[str]:
    """The images a feature cache holds: every training and test image, sorted."""
    return sorted({p for p, _ in [*data.train, *data.test_seen, *data.test_unseen]})


def open_cache(cfg: Config, model: MgMRN, images: ImageSource, paths: list[str]) -> FeatureCache:
    """The cache of the model's backbone stage maps (its last ``num_stages``) of ``paths``."""
    return open_extractor_cache(cfg, model.backbone, cfg.model.backbone, model.num_stages, images, paths)


def open_extractor_cache(cfg: Config, extractor: BackbonePyramid | PooledFeatures, name: str, stages: int,
                         images: ImageSource, paths: list[str]) -> FeatureCache:
    """The cache of ``extractor``'s last ``stages`` maps of ``paths`` through the test transform,
    keyed by ``name`` and the extractor's weights, repaired and extracted by the main process
    where missing; a UserError if it left unreadable images out and ``data.on_corrupt`` is ``stop``."""
    transform = images.transform(train=False)
    key = cache_key(name, extractor.weights_id, cfg.data.image_size, repr(transform), images_fingerprint(paths))
    folder = Path(cfg.train.feature_cache_dir) if cfg.train.feature_cache_dir else feature_cache_dir()
    cache = FeatureCache(folder / key, paths)
    if is_main():
        with cache.locked():
            for damaged in cache.repair(stages):
                print(f"feature cache: {cache.folder / damaged} was damaged (cut short or unreadable); extracting again")
            if cache.missing(stages):
                loader = make_loader([(p, 0) for p in paths], transform, cfg.eval.batch_size, train=False,
                                     workers=cfg.train.workers, on_corrupt=cfg.data.on_corrupt)
                rate = cache.extract(extractor.to(images.batching.device), loader, stages, images.batching.device)
                skipped = f" ({len(cache.skipped)} unreadable, left out)" if cache.skipped else ""
                print(f"feature cache: extracted {len(paths) - len(cache.skipped)} images{skipped} at {rate:.1f} "
                      f"img/s into {cache.folder}")
            else:
                print(f"feature cache: reusing {cache.folder}")
    barrier()  # other processes wait for the main one's extraction
    cache.arrays = cache.open(stages)
    if cache.skipped and cfg.data.on_corrupt == "stop":
        raise UserError(
            f"{len(cache.skipped)} images could not be read when this feature cache was extracted "
            f"(e.g. {sorted(cache.skipped)[0]}); set data.on_corrupt=skip to leave them out, or fix them "
            "(a changed file gets a new cache)", cache.folder,
        )
    return cache
