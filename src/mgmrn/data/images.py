"""Image reading with corrupt-file detection, and the image dataset."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, NamedTuple

from PIL import Image, UnidentifiedImageError

from mgmrn.data.common import Sample
from mgmrn.errors import UserError


def decode_image(path: str | Path) -> Image.Image | str:
    """The RGB image at ``path``, fully decoded, or the problem that prevents it."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        return "image file not found"
    except UnidentifiedImageError:
        return "not an image file (cannot identify its format)"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return "truncated image file" if "truncated" in str(exc).lower() else f"unreadable image ({exc})"


def read_image(path: str | Path) -> Image.Image:
    """The RGB image at ``path``; a UserError naming it if it is unreadable."""
    image = decode_image(path)
    if isinstance(image, str):
        raise UserError(image, path)
    return image


def check_images(samples: list[Sample], workers: int = 0) -> list[tuple[str, str]]:
    """Decode every image of ``samples`` (in threads): ``(path, problem)`` of unreadable ones."""

    def problem(path: str) -> str | None:
        image = decode_image(path)
        return image if isinstance(image, str) else None

    paths = [path for path, _ in samples]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        problems = list(pool.map(problem, paths))
    return [(path, p) for path, p in zip(paths, problems) if p is not None]


class CorruptItem(NamedTuple):
    """Returned by :class:`ImageDataset` in place of an unreadable image."""

    index: int
    path: str
    problem: str


class ImageDataset:
    """``(image tensor, global label, index)`` per sample, or a :class:`CorruptItem`.

    Corrupt images are not raised inside (possibly worker) processes: the loader decides in
    the main process whether to stop or skip (``data.on_corrupt``).
    """

    def __init__(self, samples: list[Sample], transform: Callable[[Image.Image], Any]) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int, int] | CorruptItem:
        path, label = self.samples[index]
        image = decode_image(path)
        if isinstance(image, str):
            return CorruptItem(index, path, image)
        return self.transform(image), label, index
