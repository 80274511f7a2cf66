"""The frozen pooled features the baselines read, one vector per image, as a
:class:`~mgmrn.baselines.protocol.Task` of a zero-shot set. Two kinds (``FEATURES``):

* ``last-stage``: the backbone's last stage map (the feature cache of frozen-backbone runs,
  ``stage-1.npy``) average-pooled; Lite0: 320-d.
* ``classifier``: the classifier's pooled features
  (:class:`~mgmrn.models.backbone.PooledFeatures`; Lite0: the last stage through conv_head,
  BatchNorm and activation, pooled: 1280-d), extracted once into a feature cache of their own
  (keyed as the stage maps' cache, with the name ``<backbone>:classifier-pooled``).

Both are read through the test transform and stored as float16, pooled in float32.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mgmrn.baselines.protocol import Split, Task
from mgmrn.config import Config
from mgmrn.data.build import ZSLData
from mgmrn.errors import UserError
from mgmrn.models.backbone import build_backbone, build_pooled_features
from mgmrn.runtime.inputs import (
    Batching,
    ImageSource,
    cache_paths,
    open_extractor_cache,
)
from mgmrn.storage.feature_cache import FeatureCache

FEATURES = ("last-stage", "classifier")


def feature_cache(cfg: Config, data: ZSLData, kind: str, device: torch.device | None = None) -> FeatureCache:
    """The opened cache (extracted where missing) of every image's features of ``kind``."""
    name, pretrained = cfg.model.backbone, cfg.model.pretrained
    if kind == "last-stage":
        extractor, key_name = build_backbone(name, 1, pretrained), name
    elif kind == "classifier":
        extractor, key_name = build_pooled_features(name, pretrained), f"{name}:classifier-pooled"
    else:
        raise UserError(f"unknown feature kind '{kind}' (choose from {', '.join(FEATURES)})")
    images = ImageSource(Batching.from_config(cfg, device or torch.device("cpu")), extractor.mean, extractor.std)
    return open_extractor_cache(cfg, extractor, key_name, 1, images, cache_paths(data))


def pooled(cache: FeatureCache, samples: Sequence[tuple[str, int]]) -> Split:
    """The samples' pooled last cached map (float16 maps averaged in float32) and labels."""
    last = cache.arrays[-1]  # (N, C, h, w) float16, memory-mapped
    rows = np.asarray([cache.row[p] for p, _ in samples])
    order = np.argsort(rows)  # read the memory map in file order
    features = np.empty((len(rows), last.shape[1]), np.float64)
    features[order] = np.asarray(last[rows[order]], np.float32).mean((2, 3))
    return Split(features, np.asarray([y for _, y in samples]))


def zsl_task(data: ZSLData, cache: FeatureCache) -> Task:
    """The task of ``data``'s splits on the cached features."""
    v = data.val
    return Task(np.asarray(data.attributes, np.float64), np.isin(np.arange(len(data.classes)), data.seen),
                np.asarray(v.val_seen_classes), np.asarray(v.val_unseen_classes), pooled(cache, v.train_sub),
                pooled(cache, [*v.val_seen, *v.val_unseen]), pooled(cache, data.train),
                pooled(cache, [*data.test_seen, *data.test_unseen]))


def feature_task(cfg: Config, data: ZSLData, kind: str) -> Task:
    """The task of ``data`` on its pooled features of ``kind`` (extracted on the CPU where missing)."""
    return zsl_task(data, feature_cache(cfg, data, kind))
