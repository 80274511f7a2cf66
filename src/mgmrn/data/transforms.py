"""Image transforms: train (resize, random crop, flip) and test (resize, center crop)."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor
from torchvision import transforms as T


def build_transforms(image_size: int, mean: Sequence[float], std: Sequence[float],
                     train: bool, crop_pct: float = 0.875, mirror: bool = False) -> T.Compose:
    """PIL image -> normalised tensor (3, image_size, image_size).

    The shorter side is resized to ``image_size / crop_pct``; train: random crop +
    horizontal flip; test: center crop, and with ``mirror`` the result mirrored left-right
    (the second view of ``eval.tta_flip`` and of cached ``train.cache_flip``). ``mean`` and
    ``std`` are the backbone's input normalisation.
    """
    resize = T.Resize(round(image_size / crop_pct))
    if train:
        steps = [resize, T.RandomCrop(image_size), T.RandomHorizontalFlip()]
    else:
        steps = [resize, T.CenterCrop(image_size)]
    steps += [T.ToTensor(), T.Normalize(list(mean), list(std))]
    if mirror:
        steps.append(Mirror())
    return T.Compose(steps)


class Mirror:
    """Left-right mirror of an image tensor (..., H, W); deterministic, unlike a flip drawn
    with probability 1, which still draws from torch's random generator."""

    def __call__(self, x: Tensor) -> Tensor:
        return x.flip(-1)

    def __repr__(self) -> str:
        return "Mirror()"
