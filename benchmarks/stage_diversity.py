"""How the stages of trained models differ: attention on SCAB tokens and agreement of stages.

For run groups (run directories of ``benchmarks/cub100.py`` or ``mgmrn train``), on the
unseen test images scored among the unseen classes (ZSL): each stage's ZSL top-1 and the
fused one (Eq. 14); each stage's share of attention (Eq. 8, mean over attributes and
images) on its SCAB tokens (the coarser stages fused in, Eq. 7) rather than its own ("-":
the stage has no SCAB tokens of its own: no fusion, or ``model.fusion_tokens=add``); and
for each pair of stages the share of images on which their top-1 classes agree. Stages that
agree on nearly every image add little to each other in the sum of Eq. 14. Mean over the
group's runs.

    .venv/bin/python benchmarks/stage_diversity.py \\
        --group "mgm-no-rfm=benchmarks/results/cub100-v4/runs/mgm-no-rfm-seed*" \\
        --group "full=benchmarks/results/cub100-v4/runs/full-seed*"
"""

from __future__ import annotations

import argparse
import glob
import itertools
import math
from pathlib import Path

import _bench
import numpy as np
import torch
from tqdm import tqdm

from mgmrn.data.build import build_data
from mgmrn.evaluation.metrics import per_class_accuracy
from mgmrn.models.scoring import stage_scores
from mgmrn.runtime.inputs import Inputs
from mgmrn.runtime.precision import autocast
from mgmrn.storage.saved_run import SavedRun
from mgmrn.utils.paths import SELECTED


@torch.no_grad()
def analyse(run: Path) -> dict[str, np.ndarray]:
    """One run: per-stage and fused ZSL T1 (%), SCAB attention share per stage, agreement (L, L) (%)."""
    device = torch.device("cpu")
    saved = SavedRun.open(run / SELECTED)
    model, cfg = saved.model(), saved.config
    data = build_data(cfg.data)
    inputs = Inputs.create(cfg, data, model, device)
    unseen = np.asarray(data.unseen)
    attributes = torch.as_tensor(np.asarray(data.attributes)[unseen], dtype=torch.float32)
    L = model.num_stages
    share = np.zeros(L)
    separate = [False] * L  # whether a stage has SCAB tokens apart from its own (Eq. 7)
    stage_pred, fused_pred, labels = [], [], []
    batches = inputs.source(cfg.train.freeze_backbone).eval_batches(data.test_unseen)
    for x, y, _ in tqdm(batches, desc=run.name, leave=False):
        with autocast(device, cfg.train.amp):
            maps = list(x) if isinstance(x, (list, tuple)) else model.backbone(x)
            z, attn = model.forward_maps(maps, return_attention=True)
        tokens = math.prod(model.token_grid(maps))
        for stage, a in enumerate(attn):
            separate[stage] = a.shape[-1] > tokens
            share[stage] += a[..., tokens:].float().sum(-1).mean(-1).sum().item()
        scores = stage_scores(z, attributes, cfg.model.scale)  # (B, L, U)
        stage_pred.append(scores.argmax(-1))
        fused_pred.append(scores.sum(1).argmax(-1))
        labels.append(torch.as_tensor(y))
    per_stage = torch.cat(stage_pred).numpy()
    fused = torch.cat(fused_pred).numpy()
    y = torch.cat(labels).numpy()
    t1 = [100 * per_class_accuracy(unseen[per_stage[:, i]], y, unseen) for i in range(L)]
    agree = np.array([[100 * np.mean(per_stage[:, i] == per_stage[:, j]) for j in range(L)] for i in range(L)])
    return {"stage_t1": np.array(t1), "fused_t1": np.array(100 * per_class_accuracy(unseen[fused], y, unseen)),
            "scab_share": np.where(separate, 100 * share / len(y), np.nan), "agree": agree}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", action="append", required=True, metavar="NAME=GLOB",
                        help="a name and a glob of run directories (repeatable)")
    args = parser.parse_args()
    info = _bench.machine()
    rows = []
    for spec in args.group:
        name, _, pattern = spec.rpartition("=")
        runs = sorted(Path(p) for p in glob.glob(pattern))
        if not name or not runs:
            raise SystemExit(f"--group {spec!r}: expected NAME=GLOB matching run directories")
        results = [analyse(run) for run in runs]
        mean = {k: np.mean([r[k] for r in results], axis=0) for k in results[0]}
        L = len(mean["stage_t1"])
        pairs = ", ".join(f"{i + 1}-{j + 1}: {mean['agree'][i, j]:.1f}" for i, j in itertools.combinations(range(L), 2))
        rows.append([name, len(runs), L, " / ".join(f"{v:.1f}" for v in mean["stage_t1"]), f"{mean['fused_t1']:.1f}",
                     " / ".join("-" if np.isnan(v) else f"{v:.1f}" for v in mean["scab_share"]), pairs or "-"])
    print(_bench.table(["model", "runs", "L", "stage ZSL T1 (finest first)", "fused T1",
                        "attention on SCAB tokens, % (per stage)", "stages agreeing on top-1, % of images"], rows))
    print(_bench.machine_line(info))
    print("command:", _bench.command())


if __name__ == "__main__":
    main()
