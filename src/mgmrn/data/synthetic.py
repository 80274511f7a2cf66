"""The generated zero-shot demo set (``data.format: synthetic``).

Each image shows one object on a cluttered background. Its class is a combination of four
attributes at two granularities: coarse (``shape``, ``size`` of the body) and fine
(``texture`` of the body, ``head_colour`` of a small round part attached to it). Body colour,
position, the side the head sits on, stripe/dot orientation, background colour, distractor
shapes and pixel noise are nuisance, drawn per image.

Unseen classes are new combinations of values that all occur in seen classes. They are
chosen in 2x2 blocks (two coarse x two fine combinations), so from four unseen classes on
neither the coarse nor the fine attributes alone tell them apart. Seen classes are chosen
greedily to show as many pairs of attribute values as they can, which decorrelates the
attributes the model learns from.

The set is written in the ``folder`` format (``images/<class>/<file>.png``,
``class_attributes.csv``, ``splits.csv``, ``attribute_vectors.npy``) plus ``synthetic.json``,
the config it was made from. The output depends only on the config: the same config gives
the same bytes.
"""

from __future__ import annotations

import colorsys
import csv
import dataclasses
import itertools
import json
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from mgmrn.errors import UserError
from mgmrn.utils.settings import setting

#: Attribute groups and their values; attribute columns are ``group=value`` in this order.
GROUPS: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle", "cross"),
    "size": ("small", "large"),
    "texture": ("plain", "stripes", "dots"),
    "head_colour": ("red", "green", "blue", "yellow"),
}
ATTRIBUTES: tuple[str, ...] = tuple(f"{g}={v}" for g, values in GROUPS.items() for v in values)
#: Bump when the images or files change, so stale generated folders are regenerated.
GENERATOR_VERSION = 1

_MAX_CLASSES = int(np.prod([len(v) for v in GROUPS.values()]))
_HEAD_RGB = {"red": (225, 35, 35), "green": (30, 185, 55), "blue": (35, 75, 235), "yellow": (240, 215, 30)}
_SUPERSAMPLE = 2  # drawn at this multiple of image_size, then box-filtered down
_BODY_RADIUS = {"small": 0.16, "large": 0.26}  # fraction of the image side
_HEAD_RADIUS = 0.075
_TEXTURE_PERIOD = 0.1
_NOISE_STD = 4.0

Combo = tuple[int, int, int, int]  # value index per group, in GROUPS order


@dataclass
class SyntheticConfig:
    """The generated zero-shot demo set (``data.synthetic.*``)."""

    seed: int = setting(0, "every random choice (classes, images) derives from it")
    image_size: int = setting(64, "side of the square images, pixels")
    classes: int = setting(30, "seen + unseen classes (at most 96 attribute combinations exist)")
    unseen_classes: int = setting(8, "classes whose images are all in test_unseen")
    images_per_class: int = setting(40, "images drawn for every class")
    test_fraction: float = setting(0.2, "share of each seen class's images put in test_seen")
    distractors: int = setting(3, "each image gets 0..distractors clutter shapes")
    vector_dim: int = setting(32, "length of each attribute's word vector (attribute_vectors.npy)")

    def __post_init__(self) -> None:
        def bad(key: str, rule: str, value: Any) -> UserError:
            return UserError(f"data.synthetic.{key} must be {rule}, got {value!r}")

        if self.seed < 0:
            raise bad("seed", ">= 0", self.seed)
        if not 32 <= self.image_size <= 1024:
            raise bad("image_size", "between 32 and 1024", self.image_size)
        if not 6 <= self.classes <= _MAX_CLASSES:
            raise bad("classes", f"between 6 and {_MAX_CLASSES}", self.classes)
        most_unseen = min(_MAX_CLASSES // 2, self.classes - 4)
        if not 2 <= self.unseen_classes <= most_unseen:
            raise bad("unseen_classes", f"between 2 and {most_unseen} (at least 4 classes stay seen)",
                      self.unseen_classes)
        if not 0.0 <= self.test_fraction < 1.0:
            raise bad("test_fraction", "in [0, 1)", self.test_fraction)
        if self.images_per_class < 1 or self.images_per_class - self.test_count() < 1:
            raise bad("images_per_class", "large enough to leave a training image per seen class",
                      self.images_per_class)
        if self.distractors < 0:
            raise bad("distractors", ">= 0", self.distractors)
        if self.vector_dim < 1:
            raise bad("vector_dim", ">= 1", self.vector_dim)

    def test_count(self) -> int:
        """Images of each seen class that go to ``test_seen``."""
        return round(self.images_per_class * self.test_fraction)


def generate_synthetic(root: Path, cfg: SyntheticConfig) -> Path:
    """Write the set for ``cfg`` at ``root`` and return ``root``.

    A folder at ``root`` that already holds the set for ``cfg`` is reused; one generated from
    another config is replaced. Anything else at ``root`` is left alone (UserError). The set
    is built in a temporary folder beside ``root`` and renamed into place.
    """
    root = Path(root)
    if synthetic_matches(root, cfg):
        return root
    stale = root.is_dir() and (not any(root.iterdir()) or (root / "synthetic.json").is_file())
    if root.exists() and not stale:
        raise UserError("exists and is not a generated synthetic set; refusing to overwrite it", root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o755)
        _write_set(tmp, cfg)
        _install(tmp, root, cfg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def synthetic_matches(root: Path, cfg: SyntheticConfig) -> bool:
    """Whether ``root`` holds a complete set generated from ``cfg`` by this generator version."""
    root = Path(root)
    try:
        manifest = json.loads((root / "synthetic.json").read_text())
    except (OSError, ValueError):
        return False
    files = ("class_attributes.csv", "splits.csv", "attribute_vectors.npy")
    return manifest == _manifest(cfg) and all((root / f).is_file() for f in files)


def class_name(combo: Combo) -> str:
    """Folder name of a class, e.g. ``large_circle_stripes_red``."""
    shape, size, texture, head = (values[i] for values, i in zip(GROUPS.values(), combo))
    return f"{size}_{shape}_{texture}_{head}"


def attribute_vectors(dim: int) -> np.ndarray:
    """One unit "word vector" per attribute column (float32, ``len(ATTRIBUTES) x dim``).

    Each is a fixed random vector of its group plus one of its value, seeded by the names
    alone, so attributes of one group share structure (cosine about 0.5) and the vectors do
    not depend on the dataset seed.
    """

    def gaussian(name: str) -> np.ndarray:
        return np.random.default_rng(zlib.crc32(name.encode())).standard_normal(dim)

    rows = [gaussian(f"group:{a.split('=')[0]}") + gaussian(f"value:{a}") for a in ATTRIBUTES]
    out = np.stack(rows)
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def _manifest(cfg: SyntheticConfig) -> dict[str, Any]:
    return {"generator": "mgmrn.synthetic", "version": GENERATOR_VERSION, "config": dataclasses.asdict(cfg)}


def _install(tmp: Path, root: Path, cfg: SyntheticConfig) -> None:
    """Rename ``tmp`` to ``root``, moving a stale ``root`` aside first."""
    if root.exists():
        trash = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".old"))
        os.rename(root, trash / "set")
        shutil.rmtree(trash)
    try:
        os.rename(tmp, root)
    except OSError:
        if not synthetic_matches(root, cfg):  # another process may have just written the same set
            raise


def _choose_classes(cfg: SyntheticConfig) -> tuple[list[Combo], list[Combo]]:
    """(seen, unseen) attribute combinations."""
    rng = np.random.default_rng([cfg.seed, 0])
    sizes = [len(v) for v in GROUPS.values()]
    coarse = list(itertools.product(range(sizes[0]), range(sizes[1])))
    fine = list(itertools.product(range(sizes[2]), range(sizes[3])))
    # Unseen: 2x2 blocks {c0, c1} x {f0, f1} of coarse x fine combinations (the last one cut
    # short), so each granularity alone leaves ties. Ends: at most half of all combinations.
    unseen: list[Combo] = []
    while len(unseen) < cfg.unseen_classes:
        c0, c1 = (coarse[i] for i in rng.choice(len(coarse), 2, replace=False))
        f0, f1 = (fine[i] for i in rng.choice(len(fine), 2, replace=False))
        block = [c0 + f0, c0 + f1, c1 + f0, c1 + f1]
        unseen += [b for b in block if b not in unseen][: cfg.unseen_classes - len(unseen)]

    # Seen: greedily the combination showing the most new values, then the most new pairs of
    # values (ties broken by a random order).
    pool = [c for c in itertools.product(*map(range, sizes)) if c not in unseen]
    pool = [pool[i] for i in rng.permutation(len(pool))]
    seen: list[Combo] = []
    values: set[tuple[int, int]] = set()  # (group, value)
    pairs: set[tuple[tuple[int, int], ...]] = set()

    def gain(combo: Combo) -> tuple[int, int]:
        new_values = set(enumerate(combo)) - values
        return len(new_values), len(set(itertools.combinations(enumerate(combo), 2)) - pairs)

    for _ in range(cfg.classes - cfg.unseen_classes):
        best = max(pool, key=gain)
        pool.remove(best)
        seen.append(best)
        values |= set(enumerate(best))
        pairs |= set(itertools.combinations(enumerate(best), 2))
    if len(values) < sum(sizes):
        raise UserError(
            f"data.synthetic: {len(seen)} seen classes cannot show every attribute value; "
            "use more classes or fewer unseen classes"
        )
    return seen, unseen


def _write_set(out: Path, cfg: SyntheticConfig) -> None:
    seen, unseen = _choose_classes(cfg)
    n_test = cfg.test_count()
    width = max(3, len(str(cfg.images_per_class - 1)))
    split_rows: list[tuple[str, str]] = []
    for combo in sorted(seen + unseen, key=class_name):
        name = class_name(combo)
        (out / "images" / name).mkdir(parents=True)
        for i in range(cfg.images_per_class):
            rng = np.random.default_rng([cfg.seed, 1, *combo, i])
            file = f"{name}/{i:0{width}d}.png"
            Image.fromarray(_render(combo, cfg, rng)).save(out / "images" / file, compress_level=1)
            if combo in unseen:
                split = "test_unseen"
            else:
                split = "test_seen" if i >= cfg.images_per_class - n_test else "train"
            split_rows.append((file, split))

    with open(out / "class_attributes.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["class", *ATTRIBUTES])
        for combo in sorted(seen + unseen, key=class_name):
            chosen = {f"{g}={values[i]}" for (g, values), i in zip(GROUPS.items(), combo)}
            writer.writerow([class_name(combo), *(int(a in chosen) for a in ATTRIBUTES)])
    with open(out / "splits.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["image", "split"])
        writer.writerows(split_rows)
    np.save(out / "attribute_vectors.npy", attribute_vectors(cfg.vector_dim))
    (out / "synthetic.json").write_text(json.dumps(_manifest(cfg), indent=2, sort_keys=True) + "\n")


def _muted(rng: np.random.Generator, value: float) -> tuple[int, int, int]:
    """A low-saturation colour of random hue with HSV value ``value``."""
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.3), value)
    return round(r * 255), round(g * 255), round(b * 255)


def _shape_xy(kind: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """Polygon of a shape of radius ``r`` (its bounding box is within ``r`` of the centre)."""
    if kind == "square":
        a = 0.85 * r
        return [(cx - a, cy - a), (cx + a, cy - a), (cx + a, cy + a), (cx - a, cy + a)]
    if kind == "triangle":
        return [(cx, cy - r), (cx + 0.95 * r, cy + 0.85 * r), (cx - 0.95 * r, cy + 0.85 * r)]
    w = 0.36 * r  # cross
    xy = [(w, r), (w, w), (r, w), (r, -w), (w, -w), (w, -r),
          (-w, -r), (-w, -w), (-r, -w), (-r, w), (-w, w), (-w, r)]  # fmt: skip
    return [(cx + x, cy + y) for x, y in xy]


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, fill: Any) -> None:
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        draw.polygon(_shape_xy(kind, cx, cy, r), fill=fill)


def _render(combo: Combo, cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """One ``image_size`` x ``image_size`` RGB image (uint8) of class ``combo``."""
    shape, size, texture, head = (values[i] for values, i in zip(GROUPS.values(), combo))
    side = cfg.image_size * _SUPERSAMPLE
    body_value = rng.uniform(0.35, 0.85)
    img = _background(body_value, side, cfg.distractors, rng)

    # Body: placed so that body and head stay inside the image.
    r = _BODY_RADIUS[size] * side * rng.uniform(0.93, 1.07)
    hr = _HEAD_RADIUS * side * rng.uniform(0.9, 1.1)
    margin = r + 1.6 * hr
    cx, cy = rng.uniform(margin, side - margin, size=2)
    mask = Image.new("L", (side, side), 0)
    _draw_shape(ImageDraw.Draw(mask), shape, cx, cy, r, 255)
    _paint_body(img, mask, body_value, texture, rng)
    _draw_head(img, mask, (cx, cy, r), hr, _HEAD_RGB[head], rng)

    small = np.asarray(img.reduce(_SUPERSAMPLE), dtype=np.float32)
    small = small + rng.normal(0.0, _NOISE_STD, size=small.shape)
    return np.clip(np.round(small), 0, 255).astype(np.uint8)


def _background(body_value: float, side: int, distractors: int, rng: np.random.Generator) -> Image.Image:
    """A ``side`` x ``side`` background of brightness in [0.05, 0.95], at least 0.25 away from
    ``body_value``, with 0..``distractors`` clutter shapes."""
    below, above = body_value - 0.3, max(0.0, 0.7 - body_value)
    u = rng.uniform(0, below + above)
    bg_value = 0.05 + u if u < below else body_value + 0.25 + (u - below)
    img = Image.new("RGB", (side, side), _muted(rng, bg_value))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(0, distractors + 1)):
        r = rng.uniform(0.03, 0.07) * side
        cx, cy = rng.uniform(r, side - r, size=2)
        kind = GROUPS["shape"][rng.integers(len(GROUPS["shape"]))]
        _draw_shape(draw, kind, cx, cy, r, _muted(rng, rng.uniform(0.1, 0.95)))
    return img


def _paint_body(img: Image.Image, mask: Image.Image, body_value: float, texture: str,
                rng: np.random.Generator) -> None:
    """Paint the body (where ``mask`` is set) in a muted colour of brightness ``body_value``,
    plain or with ``texture`` (stripes or dots) at a random angle and phase."""
    side = img.width
    body = _muted(rng, body_value)
    angle, phase_u, phase_v = rng.uniform(0, 2 * np.pi), rng.uniform(), rng.uniform()
    if texture == "plain":
        img.paste(body, (0, 0, side, side), mask)
        return
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / (_TEXTURE_PERIOD * side)
    u = (xx * np.cos(angle) + yy * np.sin(angle) + phase_u) % 1.0
    if texture == "stripes":
        marks = u < 0.5
    else:
        v = (yy * np.cos(angle) - xx * np.sin(angle) + phase_v) % 1.0
        marks = (u - 0.5) ** 2 + (v - 0.5) ** 2 < 0.3**2
    base = np.array(body, dtype=np.float32)
    ink = base * 0.45 if body_value > 0.55 else base + (255 - base) * 0.55
    pixels = np.where(marks[..., None], ink, base).astype(np.uint8)
    img.paste(Image.fromarray(pixels), (0, 0), mask)


def _draw_head(img: Image.Image, mask: Image.Image, body: tuple[float, float, float], hr: float,
               rgb: tuple[int, int, int], rng: np.random.Generator) -> None:
    """The head: a disc of radius ``hr`` and colour near ``rgb`` on the outline of the body
    (``mask``; centre and radius ``body``), on a random side, sticking out."""
    cx, cy, r = body
    side = img.width
    direction = rng.uniform(0, 2 * np.pi)
    steps = np.arange(0, 1.5 * r, 0.5)
    xs = np.clip(np.round(cx + steps * np.cos(direction)).astype(int), 0, side - 1)
    ys = np.clip(np.round(cy + steps * np.sin(direction)).astype(int), 0, side - 1)
    inside = np.asarray(mask)[ys, xs] > 127
    edge = steps[np.nonzero(inside)[0].max()] + 0.4 * hr
    hx, hy = cx + edge * np.cos(direction), cy + edge * np.sin(direction)
    colour = tuple(int(c) for c in np.clip(np.array(rgb) + rng.integers(-20, 21, size=3), 0, 255))
    ImageDraw.Draw(img).ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=colour)
