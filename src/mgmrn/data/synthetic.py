"""The generated zero-shot demo set (placeholder: being written)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SyntheticConfig:
    """The generated zero-shot demo set (``data.synthetic.*``)."""

    seed: int = 0
    image_size: int = 64
    images_per_class: int = 40
