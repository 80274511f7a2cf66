"""Score files (``.npz``): a model's class scores with what they are evaluated against.

Arrays: ``scores`` (N, K), ``labels`` (N,) class columns, ``seen`` (K,) booleans; optional
``gamma`` (a scalar chosen on validation, as a run stores it), ``temperature`` (the run's,
for the probabilities), ``stage_scores`` (N, L, K: each stage's own scores, whose sum a
Mg-MRN's ``scores`` are) and ``stage_gammas`` (L: each stage's validation gamma). ``mgmrn eval
--save-scores`` writes them, ``mgmrn score-eval`` reads them. Reading uses no pickle.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from mgmrn.errors import UserError
from mgmrn.utils.io import atomic_open

REQUIRED = ("scores", "labels", "seen")
SCALARS = ("gamma", "temperature")
STAGES = ("stage_scores", "stage_gammas")


class ScoreFile(NamedTuple):
    """A score file's arrays (unchecked values: :mod:`mgmrn.metrics` checks them)."""

    scores: np.ndarray
    labels: np.ndarray
    seen: np.ndarray
    gamma: Optional[float]
    temperature: Optional[float]
    stage_scores: Optional[np.ndarray] = None
    stage_gammas: Optional[np.ndarray] = None


def save_scores(path: str | Path, scores: np.ndarray, labels: np.ndarray, seen: np.ndarray,
                stage_scores: Optional[np.ndarray] = None, stage_gammas: Optional[Sequence[float]] = None,
                **scalars: Optional[float]) -> None:
    """Write a score file atomically; scalars and stage arrays that are ``None`` are left out."""
    extra = {k: np.float64(v) for k, v in scalars.items() if v is not None}
    if stage_scores is not None:
        extra["stage_scores"] = np.asarray(stage_scores)
    if stage_gammas is not None:
        extra["stage_gammas"] = np.asarray(stage_gammas, np.float64)
    with atomic_open(path, "wb") as handle:
        np.savez(handle, scores=scores, labels=labels, seen=seen, **extra)


def save_split_scores(path: str | Path, scores: np.ndarray, labels: Sequence[int], seen: Sequence[int],
                      unseen: Sequence[int], stage_scores: Optional[np.ndarray] = None,
                      stage_gammas: Optional[Sequence[float]] = None, **scalars: Optional[float]) -> None:
    """A score file of a split scored over every class (``scores`` (N, K), ``stage_scores``
    (N, L, K), global ``labels``): its columns are the candidates, ``seen`` and ``unseen``
    (global indices) in index order, and the labels are renumbered to them (the metrics only
    read those columns)."""
    columns = np.union1d(np.asarray(seen, np.int64), np.asarray(unseen, np.int64))
    save_scores(path, np.asarray(scores)[:, columns], np.searchsorted(columns, np.asarray(labels, np.int64)),
                np.isin(columns, seen), None if stage_scores is None else np.asarray(stage_scores)[:, :, columns],
                stage_gammas, **scalars)


def _scalar(arrays: Any, key: str, path: Path) -> Optional[float]:
    if key not in arrays.files:
        return None
    value = arrays[key]
    if value.size != 1 or value.dtype.kind not in "iuf" or not np.isfinite(value).all():
        raise UserError(f"'{key}' must be one finite number, got shape {value.shape} of {value.dtype}", path)
    return float(value.ravel()[0])


def load_scores(path: str | Path) -> ScoreFile:
    """The arrays of the score file ``path``; a :class:`UserError` naming it when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise UserError("score file not found", path)
    if not zipfile.is_zipfile(path):
        with path.open("rb") as handle:
            npy = handle.read(6) == b"\x93NUMPY"
        raise UserError("not an .npz file (" + ("one .npy array: save with numpy.savez" if npy else
                                                "numpy.savez writes one") + ")", path)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [k for k in REQUIRED if k not in arrays.files]
            if missing:
                raise UserError(f"missing array{'s' * (len(missing) > 1)} {', '.join(missing)} "
                                f"(it holds: {', '.join(arrays.files) or 'nothing'})", path)
            return ScoreFile(*(arrays[k] for k in REQUIRED), *(_scalar(arrays, k, path) for k in SCALARS),
                             *(arrays[k] if k in arrays.files else None for k in STAGES))
    except UserError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"not a readable .npz file ({exc})", path) from exc
