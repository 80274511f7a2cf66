"""Classify new images with a saved run, among its classes or any classes given by attributes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

import torch
from torch import Tensor

from mgmrn.data.images import load_batches, read_image
from mgmrn.data.transforms import build_transforms
from mgmrn.errors import UserError
from mgmrn.inference.classes import ClassSet
from mgmrn.models.scoring import fused_scores
from mgmrn.runtime.precision import autocast
from mgmrn.storage.saved_run import SavedRun


@dataclass(frozen=True, eq=False)
class Look:
    """What the model makes of one image, for :mod:`mgmrn.viz.attention`."""

    z: Tensor  # (1, L, A) each stage's attribute predictions
    attention: list[Tensor]  # per stage, (1, A, T) its decoder's attention over its tokens (Eq. 8)
    grid: tuple[int, int]  # the common H x W token grid
    scores: Tensor  # (K,) Eq. 14's score of each class (raw, no gamma)
    best: int  # the class ranked first (calibrated, as :meth:`Predictor.rank` ranks)


class Predictor:
    """Scores images against class attribute vectors with a saved run's model (Eq. 14).

    The classes ranked among are an argument (:class:`ClassSet`, default: the run's own, seen
    and unseen). Their scores are calibrated as the run's metrics were: the gamma that applies
    under its ``eval.calibration`` (:attr:`SavedRun.applied_gamma`) is subtracted from the
    seen classes' scores (calibrated stacking), so unseen classes can win. Classes given by
    attributes are all new to the model and get no gamma.

    Probabilities are the softmax of the ranking scores divided by the run's ``temperature``,
    fitted on validation (:mod:`mgmrn.evaluation.confidence`); classes given by attributes share
    it, having no validation of their own. A run saved without one (before temperatures were
    fitted, or trained without validation) keeps T = 1, the plain softmax, and says so in
    ``note``. A predictor never changes once built.
    """

    def __init__(self, run: SavedRun | str | Path) -> None:
        self.run = run if isinstance(run, SavedRun) else SavedRun.open(run)
        self.model, self.cfg = self.run.model(), self.run.config
        self.transform = build_transforms(self.cfg.data.image_size, self.run.mean, self.run.std,
                                          train=False, crop_pct=self.cfg.data.crop_pct)
        self.attribute_names: list[str] = list(self.run.attribute_names)
        self.classes = ClassSet.of_run(self.run)  # ranked among by default
        self.gamma = self.run.applied_gamma
        self.temperature, self.note = self.run.probability_temperature, self.run.temperature_note

    def calibrate(self, scores: Tensor, classes: ClassSet) -> Tensor:
        """Calibrated stacking: ``gamma`` subtracted from the seen classes' scores (B, K)."""
        return scores - self.gamma * classes.seen.to(scores.dtype)

    def load_image(self, path: str | Path | BinaryIO) -> Tensor:
        """The model's input for one image, a file or an open binary file (e.g. an upload in
        memory, named in errors by its ``str``); a UserError naming it if it cannot be read."""
        return self.transform(read_image(path))

    @torch.no_grad()
    def rank(self, x: Tensor, top_k: int, calibrated: bool = True,
             classes: ClassSet | None = None) -> list[list[dict[str, Any]]]:
        """The ``top_k`` of ``classes`` for each image of ``x`` (B, 3, H, W), best first:
        ``class``, ``score`` (Eq. 14, less ``gamma`` if seen and ``calibrated``),
        ``probability`` (the softmax over all of ``classes`` of the scores divided by
        ``temperature``, or of the raw scores unless ``calibrated``) and ``seen``."""
        classes = self.classes if classes is None else classes
        with autocast(x.device, self.cfg.train.amp):  # train.amp's precision, as the hardware allows
            z = self.model(x).float()
        scores = fused_scores(z, classes.attributes, self.cfg.model.scale)
        if calibrated:
            scores = self.calibrate(scores, classes)
        probabilities = (scores / (self.temperature if calibrated else 1.0)).softmax(dim=1)
        values, index = scores.topk(min(top_k, len(classes)), dim=1)
        return [
            [{"class": classes.names[i], "score": v, "probability": float(p[i]), "seen": bool(classes.seen[i])}
             for v, i in zip(vs, ix)]
            for p, vs, ix in zip(probabilities, values.tolist(), index.tolist())
        ]

    def stream(self, paths: Sequence[str | Path], top_k: int = 5, batch_size: int = 16, calibrated: bool = True,
               classes: ClassSet | None = None) -> Iterator[dict[str, Any]]:
        """:meth:`predict`'s results one by one, as each batch is classified; an image that
        cannot be read gives ``{"image", "error"}`` (the problem) and the others go on."""
        for batch in load_batches([str(p) for p in paths], self.transform, batch_size):
            readable = [x for _, x in batch if not isinstance(x, str)]
            ranked = iter(self.rank(torch.stack(readable), top_k, calibrated, classes) if readable else [])
            for path, x in batch:
                yield {"image": path, "error": x} if isinstance(x, str) else {"image": path, "top": next(ranked)}

    def predict(self, paths: Sequence[str | Path], top_k: int = 5, batch_size: int = 16, calibrated: bool = True,
                classes: ClassSet | None = None) -> list[dict[str, Any]]:
        """One ``{"image", "top": [{"class", "score", "probability", "seen"}, ...]}`` per image,
        best first, among ``classes`` (see :meth:`rank`). An unreadable image is a UserError."""
        results = []
        for result in self.stream(paths, top_k, batch_size, calibrated, classes):
            if "error" in result:
                raise UserError(result["error"], result["image"])
            results.append(result)
        return results

    @torch.no_grad()
    def look(self, x: Tensor, classes: ClassSet | None = None) -> Look:
        """One image's (3, H, W) per-stage attribute predictions and attention, its scores over
        ``classes`` and the class ranked first (in float32, whatever ``train.amp``)."""
        classes = self.classes if classes is None else classes
        maps = self.model.backbone(x[None])
        z, attention = self.model.forward_maps(maps, return_attention=True)
        scores = fused_scores(z, classes.attributes, self.cfg.model.scale)[0]
        best = int(self.calibrate(scores[None], classes)[0].argmax())
        return Look(z, attention, self.model.token_grid(maps), scores, best)
