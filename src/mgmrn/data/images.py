"""Image reading with corrupt-file detection, image lists and batches, and the image dataset."""

from __future__ import annotations

import glob
import os
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, NamedTuple, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from mgmrn.data.common import Sample, image_extensions
from mgmrn.errors import UserError

# Pillow warns about images above Image.MAX_IMAGE_PIXELS; decode_image refuses them instead.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

# Grey modes deeper than 8 bits, and the value each one's white has: Pillow's convert("RGB")
# would clip them to 255 (16-bit files read as I;16 or I: 65535; floating-point files: 1.0).
WHITE = {"I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0, "I": 65535.0, "F": 1.0}


# What an image may be, decided from its header before it is decoded: at most MAX_PIXELS
# pixels (or Pillow's Image.MAX_IMAGE_PIXELS if lower), MAX_SIDE pixels a side, and the longer
# side at most MAX_ASPECT times the shorter (the shorter side is resized to the model's input
# size, so the longer one costs memory in proportion to the ratio). Decoded, an image costs at
# most about 9 bytes a pixel (32-bit grey: its pixels and their RGB copy).
MAX_PIXELS = 50_000_000
MAX_SIDE = 32_768
MAX_ASPECT = 20
ROWS = 256  # rows of a high-bit-depth grey image scaled at once (bounds the float copy)


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` in RGB; high-bit-depth grey (:data:`WHITE`) scaled to 0-255, values outside clipped."""
    if image.mode == "RGB":
        image.load()
        return image  # not a copy: an image costs its decoded pixels once
    white = WHITE.get(image.mode)
    if white is None:
        return image.convert("RGB")
    width, height = image.size
    scaled = np.empty((height, width), dtype=np.uint8)
    for top in range(0, height, ROWS):  # a band of rows at a time: no float copy of the whole image
        band = np.asarray(image.crop((0, top, width, min(top + ROWS, height))), dtype=np.float64)
        scaled[top : top + ROWS] = np.clip(np.rint(band * (255.0 / white)), 0, 255)
    return Image.fromarray(scaled).convert("RGB")


def geometry_problem(width: int, height: int) -> str | None:
    """Why an image of ``width`` x ``height`` pixels is refused, or ``None`` if it is not: more
    than :data:`MAX_PIXELS` pixels (or ``PIL.Image.MAX_IMAGE_PIXELS``, if lower), a side above
    :data:`MAX_SIDE`, or the longer side above :data:`MAX_ASPECT` times the shorter."""
    limit = min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)
    if width * height > limit:
        return f"image too large: {width} x {height} = {width * height:,} pixels (limit {limit:,})"
    if max(width, height) > MAX_SIDE:
        return f"image too large: {width} x {height} pixels (at most {MAX_SIDE:,} a side)"
    if max(width, height) > MAX_ASPECT * min(width, height):
        return (f"image too elongated: {width} x {height} pixels "
                f"(the longer side may be at most {MAX_ASPECT} times the shorter)")
    return None


def decode_image(path: str | Path | BinaryIO) -> Image.Image | str:
    """The RGB image at ``path`` (or in an open binary file, e.g. an upload in memory), fully
    decoded, or the problem that prevents it; its geometry is checked from the header, before
    decoding (:func:`geometry_problem`)."""
    try:
        with Image.open(path) as image:
            problem = geometry_problem(*image.size)
            return problem if problem else to_rgb(image)
    except FileNotFoundError:
        return "image file not found"
    except UnidentifiedImageError:
        return "not an image file (cannot identify its format)"
    except Image.DecompressionBombError as exc:
        return f"image too large: {exc}"
    except (OSError, SyntaxError, ValueError) as exc:
        return "truncated image file" if "truncated" in str(exc).lower() else f"unreadable image ({exc})"


def read_image(path: str | Path | BinaryIO) -> Image.Image:
    """The RGB image at ``path`` (or in an open binary file); a UserError naming it (``str(path)``)
    if it is unreadable."""
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


def find_images(inputs: Sequence[str]) -> list[str]:
    """Image paths from files (kept as given, even if missing: reading reports them),
    folders (searched recursively) and glob patterns (``**`` spans folders); folders and
    patterns give the files with an image extension, sorted. One that gives none is a UserError."""
    found: list[str] = []
    for item in inputs:
        if Path(item).is_dir():
            files = [os.path.join(top, name) for top, _, names in os.walk(item) for name in names]
        elif not Path(item).exists() and any(c in item for c in "*?["):
            files = glob.glob(item, recursive=True)
        else:
            found.append(item)
            continue
        images = sorted(f for f in files if Path(f).suffix.lower() in image_extensions() and Path(f).is_file())
        if not images:
            raise UserError("no image files in this folder or below" if Path(item).is_dir() else "no image file matches this pattern",
                            item)
        found.extend(images)
    return found


def load_batches(paths: Sequence[str], transform: Callable[[Image.Image], Any], batch_size: int,
                 workers: int = 0) -> Iterator[list[tuple[str, Any]]]:
    """Batches of ``(path, transform(image))``, in order, with the problem (a str) in place of
    an image that cannot be read; decoded in ``workers`` threads (0: up to 4), a batch ahead."""

    def load(path: str) -> Any:
        image = decode_image(path)
        return image if isinstance(image, str) else transform(image)

    chunks = [list(paths[i : i + batch_size]) for i in range(0, len(paths), batch_size)]
    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:

        def submit(index: int) -> list[Future]:
            return [pool.submit(load, p) for p in chunks[index]] if index < len(chunks) else []

        upcoming = submit(0)
        for index, chunk in enumerate(chunks):
            current, upcoming = upcoming, submit(index + 1)
            yield [(path, future.result()) for path, future in zip(chunk, current)]


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
