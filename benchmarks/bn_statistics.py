"""Why fine-tuning starts by undoing the heads: BatchNorm batch statistics against running ones.

Takes a model trained with a frozen backbone (a run directory of ``benchmarks/cub100.py`` or
``mgmrn train``) and scores its training images, with no update, four ways: test or training
transform (random crop and flip), and the backbone's BatchNorm on its running statistics
(``eval``, what the heads were trained on) or on batch statistics (``train`` mode, what
fine-tuning uses unless ``train.freeze_bn``). It prints the training loss (Eq. 13 with the
run's loss settings) and the top-1 accuracy among the seen classes. The model's weights are
reloaded before each setting, so BatchNorm running statistics never leak between them.

    .venv/bin/python benchmarks/bn_statistics.py --run benchmarks/results/cub100-v3/runs/full-seed0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import _bench
import torch

from mgmrn.data.build import build_data, make_loader
from mgmrn.data.transforms import build_transforms
from mgmrn.models.scoring import stage_scores
from mgmrn.runtime.precision import autocast
from mgmrn.storage.saved_run import SavedRun
from mgmrn.training.losses import Criterion
from mgmrn.training.trainer import build_model
from mgmrn.utils.paths import SELECTED


def evaluate(model, loader, criterion: Criterion, cfg) -> tuple[float, float]:
    """Mean training loss (Eq. 13) and seen-class top-1 (%) over ``loader``, without updates."""
    loss = correct = count = 0.0
    with torch.no_grad(), autocast(torch.device("cpu"), cfg.train.amp):
        for images, labels, _ in loader:
            z = model(images).float()
            local = criterion.label_map[labels]
            loss += float(criterion(z, labels)) * len(labels)
            scores = stage_scores(z, criterion.seen_attributes, cfg.model.scale).sum(1)
            correct += float((scores.argmax(1) == local).sum())
            count += len(labels)
    return loss / count, 100 * correct / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=_bench.RESULTS / "cub100-v3" / "runs" / "full-seed0")
    parser.add_argument("--images", type=int, default=256, help="training images scored (evenly spaced)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (batch statistics depend on it)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random crops and flips")
    args = parser.parse_args()
    info = _bench.machine()
    saved = SavedRun.open(args.run / SELECTED)
    cfg = saved.config
    data = build_data(cfg.data)
    seen = torch.as_tensor(data.seen)
    criterion = Criterion.for_run(cfg, torch.as_tensor(data.attributes, dtype=torch.float32), seen, 1)
    samples = list(data.train)
    samples = samples[:: max(1, len(samples) // args.images)][: args.images]
    model = build_model(cfg, data)
    rows = []
    for augment in (False, True):
        for batch_stats in (False, True):
            model.load_state_dict(saved.weights)
            model.eval()
            model.backbone.train(batch_stats)
            transform = build_transforms(cfg.data.image_size, model.backbone.mean, model.backbone.std,
                                         train=augment, crop_pct=cfg.data.crop_pct)
            torch.manual_seed(args.seed)
            loader = make_loader(samples, transform, args.batch, train=False, workers=0)
            loss, top1 = evaluate(model, loader, criterion, cfg)
            rows.append(["train (crop, flip)" if augment else "test", "batch" if batch_stats else "running",
                         f"{loss:.3f}", f"{top1:.1f}"])
            print(rows[-1], flush=True)
    print()
    print(_bench.table(["transform", "BatchNorm statistics", "loss (Eq. 13)", "seen top-1"], rows))
    print(f"\n{len(samples)} training images of {args.run}, batch {args.batch}")
    print(_bench.machine_line(info))
    print("command:", _bench.command())


if __name__ == "__main__":
    main()
