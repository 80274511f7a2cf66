"""The runs a report shows: each one's folder, selected model, metrics, training log and label."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from mgmrn.config import Config, to_dict
from mgmrn.config.listing import flatten
from mgmrn.errors import UserError
from mgmrn.storage.saved_run import SavedRun
from mgmrn.utils.paths import SELECTED

METRICS, LOG = "metrics.json", "log.csv"
METRIC_KEYS = ("zsl_top1", "gzsl_unseen", "gzsl_seen", "gzsl_h", "ausuc", "gamma", "calibration")


@dataclass
class Run:
    """A finished training run: ``model.pt`` (its saved run and config), ``metrics.json``
    and ``log.csv``; ``label`` names it in the report (see :func:`label_runs`)."""

    folder: Path
    saved: SavedRun
    metrics: dict[str, Any]
    log: list[dict[str, str]]
    label: str = ""

    @property
    def cfg(self) -> Config:
        return self.saved.config


def _metrics(path: Path) -> dict[str, Any]:
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"not readable JSON ({exc})", path) from None
    missing = [k for k in METRIC_KEYS if not isinstance(metrics, dict) or k not in metrics]
    if missing:
        raise UserError(f"not an mgmrn metrics file (missing {', '.join(missing)})", path)
    return metrics


def _log(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise UserError(f"not a readable CSV file ({exc})", path) from None
    if not rows or not {"phase", "epoch", "loss"} <= set(rows[0]):
        raise UserError("not an mgmrn training log (needs rows with phase, epoch and loss)", path)
    return rows


def open_run(folder: str | Path) -> Run:
    """The run in ``folder``; a UserError naming the missing or unreadable file otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError("not a run folder (no such directory)", folder)
    if not (folder / SELECTED).is_file():
        raise UserError(f"not a run folder (no {SELECTED}; mgmrn train writes one)", folder)
    for name in (METRICS, LOG):
        if not (folder / name).is_file():
            raise UserError("missing (mgmrn train writes it; a run still training has no metrics.json yet)",
                            folder / name)
    metrics, log = _metrics(folder / METRICS), _log(folder / LOG)
    return Run(folder, SavedRun.open(folder / SELECTED), metrics, log)


def differences(configs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per config (nested dicts), the flat keys whose values are not the same in all of them."""
    flat = [flatten(c) for c in configs]
    keys = sorted({k for f in flat for k in f})
    differing = [k for k in keys if any(f.get(k) != flat[0].get(k) for f in flat)]
    return [{k: f.get(k) for k in differing} for f in flat]


def label_runs(runs: Sequence[Run]) -> None:
    """Name each run by its config's differences from the others (``model.stages=2, seed=1``);
    by its folder when there is one run, or when the configs do not tell them apart."""
    diffs = differences([to_dict(r.cfg) for r in runs])
    labels = [", ".join(f"{k}={v}" for k, v in d.items()) for d in diffs]
    if len(runs) == 1 or len(set(labels)) < len(labels):
        names = [r.folder.name for r in runs]
        labels = names if len(set(names)) == len(names) else [str(r.folder) for r in runs]
    for run, label in zip(runs, labels):
        run.label = label
