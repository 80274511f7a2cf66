"""Image transforms: train (resize, random crop, flip) and test (resize, center crop)."""

from __future__ import annotations

from typing import Sequence

from torchvision import transforms as T

# images are resized so that their shorter side is image_size * RESIZE_RATIO, then cropped
RESIZE_RATIO = 8 / 7


def build_transforms(image_size: int, mean: Sequence[float], std: Sequence[float],
                     train: bool) -> T.Compose:
    """PIL image -> normalised tensor (3, image_size, image_size).

    Train: resize + random crop + horizontal flip; test: resize + center crop. ``mean`` and
    ``std`` are the backbone's input normalisation.
    """
    resize = T.Resize(round(image_size * RESIZE_RATIO))
    if train:
        steps = [resize, T.RandomCrop(image_size), T.RandomHorizontalFlip()]
    else:
        steps = [resize, T.CenterCrop(image_size)]
    return T.Compose([*steps, T.ToTensor(), T.Normalize(list(mean), list(std))])
