"""Where each stage's decoder looks: the attention of Eq. (8), per attribute, over the image.

For one image and one class (the predicted one unless named), the attributes that add most
to that class's fused score (Eq. 14) are chosen, and each stage's attention weights for them
are split into the stage's own H x W tokens (g_l) and, with MRM, its H x W SCAB tokens
(u_hat_l, Eq. 7). :func:`render` draws them over the crop the model saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from mgmrn.errors import UserError, did_you_mean
from mgmrn.inference.classes import ClassSet
from mgmrn.inference.predictor import Predictor


@dataclass
class StageAttention:
    """One stage's attention for K attributes, as maps over the common H x W grid."""

    own: Tensor  # (K, H, W): on the stage's own tokens g_l
    fused: Tensor | None  # (K, H, W): on its SCAB tokens u_hat_l; None without fusion

    @property
    def fused_share(self) -> Tensor | None:
        """(K,): each attribute's share of attention on the SCAB tokens (None without them)."""
        return None if self.fused is None else self.fused.sum((1, 2))


def split_tokens(attn: Tensor, size: tuple[int, int]) -> StageAttention:
    """(K, T) attention over a stage's tokens -> own (and SCAB) maps; T is HW or 2HW."""
    n = size[0] * size[1]
    if attn.shape[-1] not in (n, 2 * n):
        raise ValueError(f"attention over {attn.shape[-1]} tokens does not fit a {size[0]}x{size[1]} grid")
    own = attn[:, :n].reshape(-1, *size)
    fused = attn[:, n:].reshape(-1, *size) if attn.shape[-1] == 2 * n else None
    return StageAttention(own, fused)


def attribute_contributions(z: Tensor, class_vector: Tensor, scale: float) -> Tensor:
    """Each attribute's part of one class's fused score (Eq. 14), (A,); they sum to the score.

    z: (L, A) per-stage predictions. The score is ``scale * sum_l cos(z_l, a)`` and
    ``cos(z_l, a) = sum_s zn_l[s] an[s]`` with unit vectors zn_l and an.
    """
    zn = F.normalize(z.float(), dim=-1)
    an = F.normalize(class_vector.float(), dim=-1)
    return scale * (zn * an).sum(0)


@dataclass
class Explanation:
    """The attention of every stage for the attributes behind one class's score."""

    image: str
    crop: Image.Image  # the input the model saw (resized, center-cropped)
    class_name: str
    score: float
    predicted: bool  # whether ``class_name`` is the predicted class (calibrated, as `mgmrn predict`)
    predicted_class: str  # the predicted class
    attributes: list[str]
    contributions: list[float]
    stages: list[StageAttention]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the maps)."""
        shares = [None if s.fused_share is None else s.fused_share.tolist() for s in self.stages]
        return {
            "image": self.image,
            "class": self.class_name,
            "score": self.score,
            "predicted": self.predicted,
            "attributes": [
                {"name": name, "contribution": c,
                 "fused_share": [None if sh is None else sh[i] for sh in shares]}
                for i, (name, c) in enumerate(zip(self.attributes, self.contributions))
            ],
        }


def all_stages(explanation: Explanation) -> Tensor:
    """Fig. 7's map per attribute, (K, H, W): every stage's attention, on its own and its
    SCAB tokens, summed ("we fuse attention maps from all granularity levels")."""
    return sum(s.own if s.fused is None else s.own + s.fused for s in explanation.stages)  # type: ignore[return-value]


def _crop_image(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Image.Image:
    """Undo the input normalisation of a (3, H, W) tensor."""
    m = torch.tensor(mean).view(3, 1, 1)
    s = torch.tensor(std).view(3, 1, 1)
    pixels = ((x * s + m).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(pixels)


@torch.no_grad()
def explain(
    predictor: Predictor,
    path: str | Path | BinaryIO,
    *,
    classes: ClassSet | None = None,
    class_name: str | None = None,
    attributes: Sequence[str] | None = None,
    top_k: int = 4,
) -> Explanation:
    """Attention of every stage for one image (a file or an open binary file, as
    :meth:`Predictor.load_image` takes): for ``attributes`` (by name), or the ``top_k``
    attributes that add most to the score of ``class_name`` (default: the class predicted
    among ``classes``, by default the run's)."""
    classes = predictor.classes if classes is None else classes
    known = classes.names
    if class_name is not None and class_name not in known:
        raise UserError(f"unknown class '{class_name}'{did_you_mean(class_name, known)} "
                        f"({len(known)} classes known, e.g. {', '.join(known[:3])})")
    names = predictor.attribute_names
    unknown = [a for a in attributes or () if a not in names]
    if unknown:
        raise UserError(f"unknown attributes {unknown[:5]}{did_you_mean(unknown[0], names)} "
                        f"(the model knows {len(names)}, e.g. {', '.join(names[:2])})")
    x = predictor.load_image(path)
    look = predictor.look(x, classes)
    best = look.best  # the class `mgmrn predict` ranks first
    k = best if class_name is None else known.index(class_name)
    contrib = attribute_contributions(look.z[0], classes.attributes[k], predictor.cfg.model.scale)
    if attributes:
        index = torch.tensor([names.index(a) for a in attributes])
    else:
        index = contrib.topk(min(top_k, len(names))).indices
    return Explanation(
        image=str(path),
        crop=_crop_image(x, predictor.run.mean, predictor.run.std),
        class_name=known[k],
        score=float(look.scores[k]),
        predicted=k == best,
        predicted_class=known[best],
        attributes=[names[i] for i in index.tolist()],
        contributions=contrib[index].tolist(),
        stages=[split_tokens(a[0, index].float(), look.grid) for a in look.attention],
    )


# Anchors of a dark-to-bright colour map (black, purple, red, orange, pale yellow).
_ANCHORS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float64)


def colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (H, W) -> RGB uint8 (H, W, 3)."""
    t = np.clip(values, 0, 1) * (len(_ANCHORS) - 1)
    low = np.minimum(t.astype(int), len(_ANCHORS) - 2)
    frac = (t - low)[..., None]
    return (_ANCHORS[low] * (1 - frac) + _ANCHORS[low + 1] * frac).round().astype(np.uint8)


def overlay(tile_image: Image.Image, heat: Tensor, peak: float) -> Image.Image:
    """A (H, W) attention map, upsampled to the tile and scaled by ``peak``, blended over it."""
    size = tile_image.size[::-1]
    up = F.interpolate(heat[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    colour = Image.fromarray(colorize((up / max(peak, 1e-12)).numpy()))
    return Image.blend(tile_image, colour, 0.55)


def font(tile: int) -> ImageFont.FreeTypeFont:
    """Pillow's scalable font at a size readable beside ``tile``-pixel maps (12 px at least)."""
    return ImageFont.load_default(size=max(12, tile // 10))


def bar_width(tile: int) -> int:
    """The width of :func:`render`'s colour bar, its labels included."""
    return max(52, tile // 2)


def colour_bar(height: int, tile: int) -> Image.Image:
    """The maps' colour scale, each map's minimum (bottom) to its maximum (top), labelled."""
    text = font(tile)
    bar = Image.new("RGB", (bar_width(tile), height), "white")
    strip = colorize(np.linspace(1, 0, height)[:, None].repeat(12, 1))
    bar.paste(Image.fromarray(strip), (4, 0))
    draw = ImageDraw.Draw(bar)
    draw.text((20, 0), "max", fill="black", font=text)
    draw.text((20, height), "min", fill="black", font=text, anchor="lb")
    return bar


def _stage_maps(stage: StageAttention, r: int) -> list[tuple[str, Tensor]]:
    """(caption, map) of one stage's own tokens and SCAB tokens for attribute ``r``."""
    maps = [(f"own {100 * float(stage.own[r].sum()):.0f}%", stage.own[r])]
    if stage.fused is not None:
        maps.append((f"SCAB {100 * float(stage.fused[r].sum()):.0f}%", stage.fused[r]))
    return maps


def render(explanation: Explanation, tile: int = 160) -> Image.Image:
    """A grid: one row per attribute; columns: the crop, then per stage (finest first) its
    own-token map and, with MRM, its SCAB-token map; a colour bar at the right. Each map is
    drawn on its own scale (its minimum to its maximum), so that a stage's SCAB map shows its
    structure even where it holds little of the attention; the caption under each map gives
    its share of the stage's attention for that attribute."""
    text = font(tile)
    line = text.size + 8
    columns = ["input"]
    for i, stage in enumerate(explanation.stages):
        columns += [f"stage {i + 1} own"] + ([f"stage {i + 1} SCAB"] if stage.fused is not None else [])
    row = line + tile + line
    maps_width = tile * len(columns)
    canvas = Image.new("RGB", (maps_width + 4 + bar_width(tile), line + len(explanation.attributes) * row), "white")
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(columns):
        draw.text((c * tile + 4, 4), title, fill="black", font=text)
    crop = explanation.crop.resize((tile, tile))
    for r, (name, contribution) in enumerate(zip(explanation.attributes, explanation.contributions)):
        top = line + r * row
        draw.text((4, top + 4), f"{name} ({contribution:+.2f} to {explanation.class_name})", fill="black", font=text)
        canvas.paste(crop, (0, top + line))
        maps = [m for stage in explanation.stages for m in _stage_maps(stage, r)]
        for c, (caption, heat) in enumerate(maps, start=1):
            canvas.paste(overlay(crop, heat - heat.min(), float(heat.max() - heat.min())), (c * tile, top + line))
            draw.text((c * tile + 4, top + line + tile + 3), caption, fill="black", font=text)
    canvas.paste(colour_bar(tile, tile), (maps_width + 4, 2 * line))
    return canvas
