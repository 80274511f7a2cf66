"""Seen/unseen classes of a split assignment, and the validation split for honest tuning."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mgmrn.data.common import Sample
from mgmrn.errors import UserError


@dataclass
class ValSplit:
    """Validation protocol inside the training images (labels stay global indices).

    The model trains on ``train_sub``; ``val_unseen`` holds every training image of the
    pseudo-unseen classes ``val_unseen_classes``, ``val_seen`` the held-out images of the
    remaining seen classes ``val_seen_classes``.
    """

    train_sub: list[Sample]
    val_seen: list[Sample]
    val_unseen: list[Sample]
    val_seen_classes: np.ndarray  # int64 global indices (sorted)
    val_unseen_classes: np.ndarray  # int64 global indices (sorted)


def _labels(samples: list[Sample]) -> np.ndarray:
    return np.asarray([label for _, label in samples], dtype=np.int64)


def seen_unseen_classes(splits: dict[str, list[Sample]], classes: list[str],
                        source: Path) -> tuple[np.ndarray, np.ndarray]:
    """Sorted global indices of the seen (training) and unseen (test_unseen) classes.

    Every inconsistency is a UserError naming ``source``, the file that assigns splits.
    """
    if not splits["train"]:
        raise UserError("no training images", source)
    if not splits["test_unseen"]:
        raise UserError("no test_unseen images: a zero-shot set needs unseen classes", source)
    if not splits["test_seen"]:
        raise UserError("no test_seen images: GZSL evaluation needs held-out images of the seen classes", source)
    seen = np.unique(_labels(splits["train"]))
    unseen = np.unique(_labels(splits["test_unseen"]))
    both = np.intersect1d(seen, unseen)
    if len(both):
        raise UserError(
            f"class '{classes[both[0]]}' has test_unseen images and training images: an unseen "
            "class must have no training images", source,
        )
    orphans = np.setdiff1d(np.unique(_labels(splits["test_seen"])), seen)
    if len(orphans):
        name = classes[orphans[0]]
        if orphans[0] in unseen:
            raise UserError(f"class '{name}' has test_seen and test_unseen images: a class is "
                            "either seen or unseen", source)
        raise UserError(f"class '{name}' has test_seen images but no training images", source)
    empty = np.setdiff1d(np.arange(len(classes)), np.union1d(seen, unseen))
    if len(empty):
        raise UserError(f"class '{classes[empty[0]]}' has no images in any split (empty class)", source)
    return seen, unseen


def make_val_split(train: list[Sample], seen: np.ndarray, val_classes: float,
                   val_images: float, seed: int) -> ValSplit:
    """Hold out a seeded fraction of seen classes (pseudo-unseen) and of the others' images."""
    rng = np.random.default_rng(seed)
    n_hold = 0
    if val_classes > 0 and len(seen) > 1:
        n_hold = min(max(1, round(len(seen) * val_classes)), len(seen) - 1)
    held_classes = np.sort(rng.choice(seen, size=n_hold, replace=False)).astype(np.int64)
    kept_classes = np.setdiff1d(seen, held_classes).astype(np.int64)
    labels = _labels(train)
    held_images: set[int] = set()
    if val_images > 0:
        for label in kept_classes:
            members = np.flatnonzero(labels == label)
            if len(members) > 1:
                count = min(max(1, round(len(members) * val_images)), len(members) - 1)
                held_images.update(rng.choice(members, size=count, replace=False).tolist())
    pseudo = set(held_classes.tolist())
    split = ValSplit([], [], [], kept_classes, held_classes)
    for i, sample in enumerate(train):
        if sample[1] in pseudo:
            split.val_unseen.append(sample)
        elif i in held_images:
            split.val_seen.append(sample)
        else:
            split.train_sub.append(sample)
    return split
