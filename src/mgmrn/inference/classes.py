"""The classes a predictor ranks among (:class:`ClassSet`): a run's, or any given by their
attributes, e.g. in a class-attribute CSV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from mgmrn.data.folder import read_class_attributes
from mgmrn.data.semantics import check_semantics
from mgmrn.errors import UserError
from mgmrn.storage.saved_run import SavedRun


def candidate_classes(path: Path, attribute_names: list[str],
                      text: str | None = None) -> tuple[list[str], np.ndarray]:
    """Read a class-attribute CSV: class names and raw values, columns in the model's attribute
    order (``text``: its content when it is not a file, see ``read_class_attributes``)."""
    names, values, columns = read_class_attributes(path, text)
    missing = [a for a in attribute_names if a not in columns]
    unknown = [c for c in columns if c not in attribute_names]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing attribute columns {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unknown:
            parts.append(f"unknown attribute columns {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
        raise UserError("; ".join(parts) + f" (the model knows {len(attribute_names)} attributes)", path)
    order = [columns.index(a) for a in attribute_names]
    return names, values[:, order]


@dataclass(frozen=True, eq=False)
class ClassSet:
    """The classes a predictor ranks among: names, normalised attribute vectors (K, A), which
    were seen in training (the seen ones get the run's gamma off their scores), and where they
    come from (``source``, named in errors)."""

    names: list[str]
    attributes: Tensor
    seen: Tensor  # (K,) bool
    source: str = "the run's classes"

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def of_run(cls, run: SavedRun, names: Sequence[str] | None = None) -> "ClassSet":
        """The run's classes (seen and unseen), or only ``names`` of them (e.g. its unseen ones)."""
        every = cls(list(run.classes), torch.as_tensor(run.attributes, dtype=torch.float32), run.seen_mask)
        if names is None:
            return every
        unknown = [n for n in names if n not in every.names]
        if unknown or not names:
            raise UserError(f"unknown classes {unknown[:5]}" if unknown else "no classes given")
        index = [every.names.index(n) for n in names]
        return cls(list(names), every.attributes[index], every.seen[index])

    @classmethod
    def described(cls, run: SavedRun, names: Sequence[str], attributes: np.ndarray,
                  source: str | Path = "candidate classes") -> "ClassSet":
        """New classes given by ``names`` and raw attribute values (K, A) in the run's attribute
        order, normalised as the training classes were (``data.normalize``); none is seen.
        ``source`` names them in errors."""
        att = np.asarray(attributes, dtype=np.float64)
        names = list(names)
        expected = (len(names), len(run.attribute_names))
        if att.shape != expected or not names:
            raise UserError(f"expected attributes of shape {expected} (classes, attributes), got {att.shape}", source)
        if len(set(names)) != len(names):
            raise UserError("class names must be distinct", source)
        check_semantics(att, names, Path(source))
        if run.normalizer is None:
            raise UserError(f"this checkpoint predates saved data.normalize statistics "
                            f"({run.config.data.normalize}); retrain it to classify new classes", source)
        return cls(names, torch.as_tensor(run.normalizer(att, names, Path(source))),
                   torch.zeros(len(names), dtype=torch.bool), str(source))

    @classmethod
    def from_csv(cls, run: SavedRun, path: Path, text: str | None = None) -> "ClassSet":
        """The classes of a class-attribute CSV (``text``: its content when it is not a file)."""
        return cls.described(run, *candidate_classes(path, list(run.attribute_names), text), source=path)

    def __add__(self, other: "ClassSet") -> "ClassSet":
        """These classes, then ``other``'s."""
        return ClassSet([*self.names, *other.names], torch.cat([self.attributes, other.attributes]),
                        torch.cat([self.seen, other.seen]), f"{self.source} and {other.source}")
