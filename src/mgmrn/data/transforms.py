"""Image transforms: train (resize, random crop, flip) and test (resize, center crop)."""

from __future__ import annotations

from typing import Sequence

from torchvision import transforms as T


def build_transforms(image_size: int, mean: Sequence[float], std: Sequence[float],
                     train: bool, crop_pct: float = 0.875) -> T.Compose:
    """PIL image -> normalised tensor (3, image_size, image_size).

    The shorter side is resized to ``image_size / crop_pct``; train: random crop +
    horizontal flip; test: center crop. ``mean`` and ``std`` are the backbone's input
    normalisation.
    """
    resize = T.Resize(round(image_size / crop_pct))
    if train:
        steps = [resize, T.RandomCrop(image_size), T.RandomHorizontalFlip()]
    else:
        steps = [resize, T.CenterCrop(image_size)]
    steps += [T.ToTensor(), T.Normalize(list(mean), list(std))]
    return T.Compose(steps)
