"""What the model reads: images through transforms, or cached stage maps (frozen backbone)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from mgmrn.config import Config
from mgmrn.data.build import ZSLData, make_batch_sampler, make_loader
from mgmrn.data.transforms import build_transforms
from mgmrn.engine.cache import CachedMaps, FeatureCache, cache_key, default_cache_dir, images_fingerprint
from mgmrn.engine.distributed import barrier, is_main, rank_and_world, shard
from mgmrn.errors import UserError
from mgmrn.models.mgmrn import MgMRN

Samples = Sequence[tuple[str, int]]


@dataclass
class Inputs:
    """Builds loaders for sample lists and says how the model consumes them.

    Loaders read cached stage maps while ``use_cache`` is set (the backbone is frozen),
    images otherwise. ``mirror_cache`` holds the maps of the mirrored images, for
    ``train.cache_flip`` and ``eval.tta_flip``.
    """

    cfg: Config
    model: MgMRN
    cache: FeatureCache | None = None
    mirror_cache: FeatureCache | None = None
    use_cache: bool = False

    @classmethod
    def create(
        cls, cfg: Config, data: ZSLData, model: MgMRN, device: torch.device, training: bool = False
    ) -> "Inputs":
        """With ``train.freeze_backbone`` (or, for training, ``train.frozen_epochs``), extract
        (or reuse) the feature cache first."""
        inputs = cls(cfg, model)
        if cfg.train.freeze_backbone or (training and cfg.train.frozen_epochs > 0):
            paths = sorted({p for p, _ in [*data.train, *data.test_seen, *data.test_unseen]})
            images = images_fingerprint(paths)  # read once for both caches
            inputs.cache = inputs._open_cache(paths, images, device)
            if cfg.eval.tta_flip or (training and cfg.train.cache_flip > 0):
                inputs.mirror_cache = inputs._open_cache(paths, images, device, mirror=True)
            inputs.use_cache = cfg.train.freeze_backbone
        return inputs

    def _transform(self, train: bool, mirror: bool = False):
        bb = self.model.backbone
        d = self.cfg.data
        return build_transforms(d.image_size, bb.mean, bb.std, train=train, crop_pct=d.crop_pct, mirror=mirror)

    def _open_cache(
        self, paths: list[str], images: bytes, device: torch.device, mirror: bool = False
    ) -> FeatureCache:
        """The cache of ``paths`` (``images``: their :func:`images_fingerprint`), extracted if missing."""
        bb = self.model.backbone
        transform = self._transform(train=False, mirror=mirror)
        key = cache_key(self.cfg.model.backbone, bb.weights_id, self.cfg.data.image_size, repr(transform), images)
        folder = Path(self.cfg.train.cache_dir) if self.cfg.train.cache_dir else default_cache_dir()
        cache = FeatureCache(folder / key, paths)
        L = self.model.num_stages
        if cache.missing(L) and is_main():
            loader = make_loader(
                [(p, 0) for p in paths], transform, self.cfg.eval.batch_size, train=False,
                workers=self.cfg.train.workers, on_corrupt=self.cfg.data.on_corrupt,
            )
            rate = cache.extract(bb.to(device), loader, L, device)
            skipped = f" ({len(cache.skipped)} unreadable, left out)" if cache.skipped else ""
            what = "mirrored images" if mirror else "images"
            print(f"feature cache: extracted {len(paths) - len(cache.skipped)} {what}{skipped} at {rate:.1f} img/s "
                  f"into {cache.folder}")
        elif is_main():
            print(f"feature cache{' (mirrored images)' if mirror else ''}: reusing {cache.folder}")
        barrier()  # other processes wait for the main one's extraction
        cache.arrays = cache.open(L)
        if cache.skipped and self.cfg.data.on_corrupt == "stop":
            raise UserError(
                f"{len(cache.skipped)} images could not be read when this feature cache was extracted "
                f"(e.g. {sorted(cache.skipped)[0]}); set data.on_corrupt=skip to leave them out, or fix them "
                "(a changed file gets a new cache)", cache.folder,
            )
        return cache

    @property
    def skipped(self) -> set[str]:
        """Images without cached maps: unreadable at the extraction of either cache."""
        assert self.cache is not None
        return self.cache.skipped | (self.mirror_cache.skipped if self.mirror_cache is not None else set())

    def train_loader(self, samples: Samples, epoch: int) -> DataLoader:
        """Training batches for one epoch (seeded by config seed and epoch: resumable)."""
        d, t = self.cfg.data, self.cfg.train
        seed = self.cfg.seed * 1000 + epoch
        rank, world = rank_and_world()
        if not self.use_cache:
            return make_loader(
                samples, self._transform(train=True), d.batch_size, train=True, sampler=d.sampler,
                ways=d.ways, shots=d.shots, batches_per_epoch=t.max_batches, seed=seed,
                workers=t.workers, on_corrupt=d.on_corrupt, rank=rank, world=world,
            )
        samples = [s for s in samples if s[0] not in self.skipped]
        labels = [y for _, y in samples]
        sampler = make_batch_sampler(labels, d.batch_size, train=True, sampler=d.sampler, ways=d.ways,
                                     shots=d.shots, batches_per_epoch=t.max_batches, seed=seed,
                                     rank=rank, world=world)
        return DataLoader(self._cached(samples, flip=t.cache_flip, seed=seed), batch_sampler=sampler)

    def eval_loader(self, samples: Samples, mirror: bool = False) -> DataLoader:
        """Fixed-order batches of this rank's share of ``samples`` (each sample on one rank);
        ``mirror``: of the mirrored images (``eval.tta_flip``'s second view)."""
        mine = shard(len(samples))
        if self.use_cache:  # images the extraction could not read have no maps
            mine = [i for i in mine if samples[i][0] not in self.skipped]
        subset = [samples[i] for i in mine]
        bs = self.cfg.eval.batch_size
        if not self.use_cache:
            loader = make_loader(subset, self._transform(train=False, mirror=mirror), bs, train=False,
                                 workers=self.cfg.train.workers, on_corrupt=self.cfg.data.on_corrupt)
        else:
            loader = DataLoader(self._cached(subset, flip=float(mirror)), batch_size=bs, shuffle=False)
        return _Reindexed(loader, torch.tensor(mine, dtype=torch.long))

    def _cached(self, samples: Samples, flip: float = 0.0, seed: int = 0) -> CachedMaps:
        """Cached maps of ``samples``; each is read from the mirrored images' cache with
        probability ``flip``."""
        assert self.cache is not None
        rows = [self.cache.row[p] for p, _ in samples]
        mirrored = None
        if flip > 0:
            assert self.mirror_cache is not None, "the mirrored images' cache is opened with cache_flip or tta_flip"
            mirrored = self.mirror_cache.arrays
        return CachedMaps(self.cache.arrays, rows, [y for _, y in samples], mirrored=mirrored, flip=flip, seed=seed)


class _Reindexed:
    """Maps a shard's local sample indices back to indices into the full sample list."""

    def __init__(self, loader: DataLoader, index: Tensor) -> None:
        self.loader, self.index = loader, index

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for inputs, labels, idx in self.loader:
            yield inputs, labels, self.index[torch.as_tensor(idx)]
