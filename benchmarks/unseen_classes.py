"""Where the zero-shot errors are: per-class ZSL accuracy on the unseen test classes.

Takes trained runs (run directories of ``benchmarks/cub100.py`` or ``mgmrn train``), scores
their unseen test images among the unseen classes only (ZSL, Eq. 14) and prints, per unseen
class: its accuracy in each run group (mean over the group's runs), the class its images
are most often given instead, the share of its images that go there, and the cosine
similarity of the two classes' attribute vectors. A last line gives the Spearman
correlation between a class's accuracy and the attribute cosine to its nearest other unseen
class: how much of the error the class descriptions themselves explain; and the share of
all errors (per-class error rates summed) that the ``--worst`` lowest classes hold.

    .venv/bin/python benchmarks/unseen_classes.py \\
        --group "mrm-no-scab=benchmarks/results/cub100-paper/runs/mrm-no-scab-seed*" \\
        --group "full=benchmarks/results/cub100-paper/runs/full-seed*"
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import _bench
import numpy as np
import torch
from scipy.stats import spearmanr

from mgmrn.data.build import build_data
from mgmrn.evaluation.evaluate import Evaluator
from mgmrn.evaluation.metrics import zsl_confusion
from mgmrn.models.scoring import stage_scores
from mgmrn.runtime.inputs import Inputs
from mgmrn.storage.saved_run import SavedRun
from mgmrn.utils.paths import SELECTED


def confusion(run: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """A run's (U, U) ZSL confusion counts (rows: true class), unseen class names and attributes."""
    saved = SavedRun.open(run / SELECTED)
    model, cfg = saved.model(), saved.config
    data = build_data(cfg.data)
    cpu = torch.device("cpu")
    source = Inputs.create(cfg, data, model, cpu).source(cfg.train.freeze_backbone)
    attributes = torch.as_tensor(data.attributes, dtype=torch.float32)
    z, labels = Evaluator.for_run(model, source, cfg, attributes, cpu).predict(data.test_unseen, run.name)
    unseen = np.asarray(data.unseen)
    scores = stage_scores(z, attributes, cfg.model.scale).sum(1).numpy()
    counts = zsl_confusion(scores, labels, unseen)
    names = [data.classes[c] for c in unseen]
    return counts, names, np.asarray(data.attributes, dtype=np.float64)[unseen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", action="append", required=True, metavar="NAME=GLOB",
                        help="a name and a glob of run directories (repeatable)")
    parser.add_argument("--worst", type=int, default=4,
                        help="report the share of the errors in this many lowest classes")
    args = parser.parse_args()
    info = _bench.machine()
    groups: dict[str, np.ndarray] = {}
    names: list[str] = []
    att = np.zeros(0)
    for spec in args.group:
        name, _, pattern = spec.rpartition("=")
        runs = sorted(Path(p) for p in glob.glob(pattern))
        if not name or not runs:
            raise SystemExit(f"--group {spec!r}: expected NAME=GLOB matching run directories")
        total = None
        for run in runs:
            counts, names, att = confusion(run)
            rates = counts / counts.sum(1, keepdims=True)
            total = rates if total is None else total + rates
        groups[f"{name} ({len(runs)} runs)"] = total / len(runs)
    unit = att / np.linalg.norm(att, axis=1, keepdims=True)
    cos = unit @ unit.T
    np.fill_diagonal(cos, -1)
    last = list(groups.values())[-1]
    rows = []
    for i in np.argsort(np.diag(last)):
        off = last[i].copy()
        off[i] = -1
        j = int(off.argmax())
        rows.append([names[i], *(f"{100 * g[i, i]:.1f}" for g in groups.values()), names[j],
                     f"{100 * last[i, j]:.1f}", f"{cos[i, j]:.3f}", f"{cos[i].max():.3f}"])
    print(_bench.table(["unseen class", *groups, f"most confused with ({list(groups)[-1]})", "% of its images",
                        "attribute cosine", "nearest attribute cosine"], rows))
    nearest = cos.max(1)
    upper = np.triu_indices(len(names), 1)
    closest = np.argsort(-cos[upper], kind="stable")[: 2 * args.worst]
    print(f"closest of the {len(upper[0])} unseen class pairs by attribute cosine: " + "; ".join(
        f"{names[upper[0][k]]} / {names[upper[1][k]]} {cos[upper][k]:.3f}" for k in closest))
    for name, g in groups.items():
        acc = np.diag(g)
        errors = np.sort(1 - acc)[::-1]
        print(f"{name}: mean per-class ZSL T1 {100 * acc.mean():.1f}; the {args.worst} lowest classes hold "
              f"{100 * errors[: args.worst].sum() / errors.sum():.0f}% of the errors; Spearman(accuracy, "
              f"nearest attribute cosine) = {spearmanr(acc, nearest)[0]:.2f}")
    print(_bench.machine_line(info))
    print("command:", _bench.command())


if __name__ == "__main__":
    main()
