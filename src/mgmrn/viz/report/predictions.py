"""A run's test predictions, computed once and kept in the run folder (``report_cache.npz``).

The report needs every test image's per-stage attribute predictions z (N, L, A): the class
scores (Eq. 11, 14), the attribute-prediction errors (Fig. 5) and the features of the t-SNE
(Fig. 6) all follow from them. They are computed as the final test computed them
(:class:`mgmrn.evaluation.evaluate.Evaluator`: the feature cache for frozen-backbone runs, the
run's ``train.amp``) and stored atomically beside ``model.pt``, under a key of its bytes and
of the test images: a changed model or test split recomputes them.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mgmrn.data.build import ZSLData, build_data
from mgmrn.errors import UserError
from mgmrn.models.scoring import fused_scores, stage_scores
from mgmrn.utils.io import atomic_open
from mgmrn.utils.paths import SELECTED
from mgmrn.viz.report.runs import Run

CACHE = "report_cache.npz"
VERSION = 1  # of the cache's content


@dataclass
class Predictions:
    """Per-stage attribute predictions of the test images, seen classes' images first."""

    z: np.ndarray  # (N, L, A) float32
    labels: np.ndarray  # (N,) global class indices
    data: ZSLData  # the run's data set: classes, their attributes, seen and unseen classes
    scale: float  # model.scale (Eq. 11)
    _fused: np.ndarray | None = field(default=None, repr=False, compare=False)

    def stage_scores(self) -> np.ndarray:
        """(N, L, K): each stage's scaled cosine to every class (Eq. 11), as evaluation computes it."""
        attributes = torch.as_tensor(self.data.attributes, dtype=torch.float32)
        return stage_scores(torch.from_numpy(self.z), attributes, self.scale).numpy()

    def fused_scores(self) -> np.ndarray:
        """(N, K): Eq. 14's score, summed over stages as evaluation sums them; computed once."""
        if self._fused is None:
            attributes = torch.as_tensor(self.data.attributes, dtype=torch.float32)
            self._fused = fused_scores(torch.from_numpy(self.z), attributes, self.scale).numpy()
        return self._fused


def cache_key(model: Path, data: ZSLData) -> str:
    """What the predictions depend on: the model file's bytes and the test images."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"report-cache {VERSION}\n".encode())
    h.update(model.read_bytes())
    h.update(json.dumps([data.test_seen, data.test_unseen, data.classes]).encode())
    return h.hexdigest()


def _read(path: Path, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached (z, labels) when ``path`` holds them under ``key``, else None."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["key"]) != key:
                return None
            return saved["z"], saved["labels"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None  # absent, or not a complete cache: computed again


def _predict(run: Run, data: ZSLData) -> tuple[np.ndarray, np.ndarray]:
    """Every test image's z, as the run's final test computed it."""
    from mgmrn.evaluation.evaluate import Evaluator
    from mgmrn.runtime.distributed import init_distributed
    from mgmrn.runtime.inputs import Inputs

    _, _, device = init_distributed()
    model, cfg = run.saved.model(), run.cfg
    model.to(device)
    inputs = Inputs.create(cfg, data, model, device)
    attributes = torch.as_tensor(data.attributes, dtype=torch.float32)
    evaluator = Evaluator.for_run(model, inputs.source(cfg.train.freeze_backbone), cfg, attributes, device)
    z_s, y_s = evaluator.predict(data.test_seen, "report: test seen")
    z_u, y_u = evaluator.predict(data.test_unseen, "report: test unseen")
    return torch.cat([z_s, z_u]).float().numpy(), np.asarray(y_s + y_u, dtype=np.int64)


def predictions(run: Run) -> Predictions:
    """The run's test predictions, from ``RUN/report_cache.npz`` when it is current, else
    computed and stored there."""
    data = build_data(run.cfg.data)
    if list(data.classes) != list(run.saved.classes):
        raise UserError("the data set's classes are not those the run was trained on "
                        f"(data.root {run.cfg.data.root or '(generated)'})", run.folder / SELECTED)
    key = cache_key(run.folder / SELECTED, data)
    cached = _read(run.folder / CACHE, key)
    if cached is None:
        print(f"report: computing the test predictions of {run.folder} (once: kept in {CACHE})", flush=True)
        cached = _predict(run, data)
        try:
            with atomic_open(run.folder / CACHE, "wb") as handle:
                np.savez(handle, key=np.array(key), z=cached[0], labels=cached[1])
        except OSError as exc:  # e.g. a read-only run: the next report computes them again
            print(f"report: cannot keep them in {run.folder / CACHE} ({exc.strerror or exc})", flush=True)
    return Predictions(cached[0], cached[1], data, run.cfg.model.scale)
