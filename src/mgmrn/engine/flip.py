"""The test-time flip (``eval.tta_flip``; not in the paper), one function for evaluation and
prediction: an image's attribute predictions are the mean over the image and its mirror image."""

from __future__ import annotations

from typing import Callable

from torch import Tensor


def flip_mean(predict: Callable[[bool], Tensor], flip: bool) -> Tensor:
    """``predict(False)`` (the images' predictions), or with ``flip`` its mean with
    ``predict(True)`` (the mirror images')."""
    z = predict(False)
    return (z + predict(True)) / 2 if flip else z
