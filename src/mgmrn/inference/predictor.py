"""Classify new images with a saved model, among its classes or any classes given by attributes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

import numpy as np
import torch

from mgmrn.config import Config, from_dict
from mgmrn.data.images import load_batches, read_image
from mgmrn.data.semantics import SemanticsNormalizer, check_semantics
from mgmrn.data.transforms import build_transforms
from mgmrn.errors import UserError
from mgmrn.models.mgmrn import MgMRN
from mgmrn.models.scoring import fused_scores
from mgmrn.runtime.precision import autocast
from mgmrn.storage.checkpoint import load_checkpoint


def model_from_checkpoint(state: dict[str, Any]) -> tuple[MgMRN, Config]:
    """Rebuild the model of a checkpoint (no pretrained download: the weights are inside)."""
    cfg = from_dict(state["config"])
    vectors = state.get("attribute_vectors")
    model_cfg = dataclasses.replace(cfg.model, pretrained="none")
    model = MgMRN(model_cfg, len(state["attribute_names"]), vectors)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:  # shapes of another model: e.g. a model.* override at evaluation
        detail = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise UserError(f"the saved weights do not fit the model the configuration describes "
                        f"(a model.* override changes the architecture?): {detail}") from None
    # Frozen-backbone runs keep their pretrained weights: the feature cache stays valid.
    model.backbone.weights_id = state.get("weights_id", model.backbone.weights_id)
    return model.eval(), cfg


def saved_temperature(state: dict[str, Any]) -> tuple[float, str]:
    """A checkpoint's probability temperature, and a note when it has none (T = 1 then)."""
    if "temperature" not in state:
        return 1.0, ("this run was saved before probabilities were calibrated: they are the plain softmax "
                     "of the ranking scores, overconfident (train it again to calibrate them)")
    if state["temperature"] is None:
        return 1.0, ("this run was trained without validation: its probabilities are the plain softmax of "
                     "the ranking scores, not calibrated")
    return float(state["temperature"]), ""


class Predictor:
    """Scores images against class attribute vectors with a checkpoint's model (Eq. 14).

    Among the checkpoint's own classes (seen and unseen) the scores are calibrated as in GZSL
    evaluation: the gamma chosen on validation is subtracted from the seen classes' scores
    (calibrated stacking), so unseen classes can win. Classes given by attributes
    (:meth:`use_classes`) are all new to the model and get no gamma.

    Probabilities are the softmax of the ranking scores divided by the run's ``temperature``,
    fitted on validation (:mod:`mgmrn.evaluation.confidence`); classes given by attributes share
    it, having no validation of their own. A run saved without one (before temperatures were
    fitted, or trained without validation) keeps T = 1, the plain softmax, and says so in
    ``note``.
    """

    def __init__(self, checkpoint: str | Path) -> None:
        self.state = load_checkpoint(checkpoint)
        self.model, self.cfg = model_from_checkpoint(self.state)
        self.transform = build_transforms(self.cfg.data.image_size, self.state["mean"], self.state["std"],
                                          train=False, crop_pct=self.cfg.data.crop_pct)
        self.attribute_names: list[str] = list(self.state["attribute_names"])
        self.classes: list[str] = list(self.state["classes"])
        self.attributes = torch.as_tensor(self.state["attributes"], dtype=torch.float32)
        self.seen = torch.zeros(len(self.classes), dtype=torch.bool)  # per candidate class
        self.seen[torch.as_tensor(self.state["seen"], dtype=torch.long)] = True
        self.gamma: float = float(self.state.get("gamma") or 0.0)  # 0: trained without validation
        self.temperature, self.note = saved_temperature(self.state)
        saved = self.state.get("normalizer")  # older checkpoints lack it
        self.normalizer: SemanticsNormalizer | None = (
            SemanticsNormalizer.from_state(saved) if saved is not None
            else SemanticsNormalizer(self.cfg.data.normalize) if self.cfg.data.normalize in ("l2", "none")
            else None  # minmax / zscore statistics were not saved
        )

    def restrict_to(self, names: Sequence[str]) -> None:
        """Keep only these of the current candidate classes (e.g. the checkpoint's unseen ones)."""
        unknown = [n for n in names if n not in self.classes]
        if unknown or not names:
            raise UserError(f"unknown classes {unknown[:5]}" if unknown else "no classes given")
        index = [self.classes.index(n) for n in names]
        self.classes = list(names)
        self.attributes = self.attributes[index]
        self.seen = self.seen[index]

    def use_classes(self, names: Sequence[str], attributes: np.ndarray,
                    source: str | Path = "candidate classes") -> None:
        """Replace the candidate classes: ``names`` and their raw attribute values (K, A), in
        the checkpoint's attribute order (``attribute_names``). They are normalised as the
        training classes were (``data.normalize``); ``source`` names them in errors."""
        att = np.asarray(attributes, dtype=np.float64)
        names = list(names)
        expected = (len(names), len(self.attribute_names))
        if att.shape != expected or not names:
            raise UserError(f"expected attributes of shape {expected} (classes, attributes), got {att.shape}", source)
        if len(set(names)) != len(names):
            raise UserError("class names must be distinct", source)
        check_semantics(att, names, Path(source))
        if self.normalizer is None:
            raise UserError(f"this checkpoint predates saved data.normalize statistics ({self.cfg.data.normalize}); "
                            "retrain it to classify new classes", source)
        self.classes = names
        self.attributes = torch.as_tensor(self.normalizer(att, names, Path(source)))
        self.seen = torch.zeros(len(names), dtype=torch.bool)

    def calibrate(self, scores: torch.Tensor) -> torch.Tensor:
        """Calibrated stacking: ``gamma`` subtracted from the seen candidate classes' scores (B, K)."""
        return scores - self.gamma * self.seen.to(scores.dtype)

    def load_image(self, path: str | Path | BinaryIO) -> torch.Tensor:
        """The model's input for one image, a file or an open binary file (e.g. an upload in
        memory, named in errors by its ``str``); a UserError naming it if it cannot be read."""
        return self.transform(read_image(path))

    @torch.no_grad()
    def rank(self, x: torch.Tensor, top_k: int, calibrated: bool = True) -> list[list[dict[str, Any]]]:
        """The ``top_k`` classes of each image of ``x`` (B, 3, H, W), best first: ``class``,
        ``score`` (Eq. 14, less ``gamma`` if seen and ``calibrated``), ``probability`` (the
        softmax over all candidate classes of the scores divided by ``temperature``, or of the
        raw scores unless ``calibrated``) and ``seen`` (trained on)."""
        with autocast(x.device, self.cfg.train.amp):  # train.amp's precision, as the hardware allows
            z = self.model(x).float()
        scores = fused_scores(z, self.attributes, self.cfg.model.scale)
        if calibrated:
            scores = self.calibrate(scores)
        probabilities = (scores / (self.temperature if calibrated else 1.0)).softmax(dim=1)
        values, index = scores.topk(min(top_k, len(self.classes)), dim=1)
        return [
            [{"class": self.classes[i], "score": v, "probability": float(p[i]), "seen": bool(self.seen[i])}
             for v, i in zip(vs, ix)]
            for p, vs, ix in zip(probabilities, values.tolist(), index.tolist())
        ]

    def stream(self, paths: Sequence[str | Path], top_k: int = 5, batch_size: int = 16,
               calibrated: bool = True) -> Iterator[dict[str, Any]]:
        """:meth:`predict`'s results one by one, as each batch is classified; an image that
        cannot be read gives ``{"image", "error"}`` (the problem) and the others go on."""
        for batch in load_batches([str(p) for p in paths], self.transform, batch_size):
            readable = [x for _, x in batch if not isinstance(x, str)]
            ranked = iter(self.rank(torch.stack(readable), top_k, calibrated) if readable else [])
            for path, x in batch:
                yield {"image": path, "error": x} if isinstance(x, str) else {"image": path, "top": next(ranked)}

    def predict(self, paths: Sequence[str | Path], top_k: int = 5, batch_size: int = 16,
                calibrated: bool = True) -> list[dict[str, Any]]:
        """One ``{"image", "top": [{"class", "score", "probability", "seen"}, ...]}`` per image,
        best first (see :meth:`rank`); ``calibrated`` subtracts ``gamma`` from the scores of the
        checkpoint's seen classes (see the class doc). An unreadable image is a UserError."""
        results = []
        for result in self.stream(paths, top_k, batch_size, calibrated):
            if "error" in result:
                raise UserError(result["error"], result["image"])
            results.append(result)
        return results
