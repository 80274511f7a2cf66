"""``mgmrn eval CHECKPOINT [--set ...] [--output FILE] [--per-class]``: test metrics of a saved model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mgmrn.cli.common import add_set_argument, format_metrics
from mgmrn.errors import UserError
from mgmrn.utils.io import write_json
from mgmrn.utils.paths import resolve_checkpoint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint file or run directory")
    add_set_argument(parser, "override a key of the checkpoint's config (e.g. eval.calibration=test-sweep)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the metrics as JSON to FILE")
    parser.add_argument("--per-class", action="store_true",
                        help="also print each unseen class's ZSL top-1 and the class it is most confused with")
    parser.add_argument("--save-scores", type=Path, metavar="FILE.npz",
                        help="write the test images' fused and per-stage class scores, labels, seen classes, the "
                             "validation gammas (fused and per stage) and the temperature, for 'mgmrn score-eval'")
    parser.add_argument("--save-val-scores", type=Path, metavar="FILE.npz",
                        help="write the validation split's scores (its held-out seen classes as unseen) in the "
                             "same form, for 'mgmrn score-eval --val' (with train.refit, the refit model's, not "
                             "those its gamma was chosen on)")


def format_per_class(report: list[dict]) -> str:
    """The ``zsl_per_class`` entries as a table, worst class first."""
    rows = sorted(report, key=lambda r: (r["top1"] is not None, r["top1"] or 0.0))
    width = max([len("unseen class")] + [len(r["class"]) for r in rows])
    lines = [f"{'unseen class':<{width}}  images  ZSL top-1  most confused with (share of its images)"]
    for r in rows:
        top1 = "-" if r["top1"] is None else f"{r['top1']:.1f}"
        other = f"{r['confused_with']} ({r['confused_share']:.1f}%)" if r["confused_with"] else "-"
        lines.append(f"{r['class']:<{width}}  {r['images']:>6}  {top1:>9}  {other}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    resolve_checkpoint(args.checkpoint)  # before torch is imported: a mistyped path fails at once
    for path in (args.save_scores, args.save_val_scores):
        if path is not None and not path.parent.is_dir():
            raise UserError("no such folder for the score file", path.parent)
    from mgmrn.config import deep_update, from_dict, parse_overrides, to_dict
    from mgmrn.data.build import build_data
    from mgmrn.evaluation.evaluate import checkpoint_metrics, run_evaluator
    from mgmrn.runtime.distributed import init_distributed
    from mgmrn.runtime.inputs import Inputs
    from mgmrn.storage.saved_run import SavedRun
    from mgmrn.utils.score_file import save_split_scores

    saved = SavedRun.open(args.checkpoint)
    values = to_dict(saved.config)
    deep_update(values, parse_overrides(args.overrides))
    cfg = from_dict(values)
    _, _, device = init_distributed()
    model = saved.replace(config=cfg).model()
    model.to(device)
    data = build_data(cfg.data)
    inputs = Inputs.create(cfg, data, model, device)
    evaluator = run_evaluator(model, inputs, data, cfg, device)
    scores, labels = evaluator.scores(data.test_seen, data.test_unseen, "test")
    metrics = checkpoint_metrics(scores, labels, data, cfg, saved.val_gamma, saved.temperature, saved.stage_gammas)
    if args.save_scores:
        chosen = metrics["calibration"] == "val"
        save_split_scores(args.save_scores, scores.sum(1).numpy(), labels, data.seen, data.unseen, scores.numpy(),
                          saved.stage_gammas if chosen else None, gamma=metrics["gamma"] if chosen else None,
                          temperature=saved.temperature)
    if args.save_val_scores:
        v = data.val
        if not v.val_unseen:
            raise UserError("the run's data have no validation split (data.val_classes is 0)")
        scores, labels = evaluator.scores(v.val_seen, v.val_unseen, "val")
        save_split_scores(args.save_val_scores, scores.sum(1).numpy(), labels, v.val_seen_classes, v.val_unseen_classes,
                          scores.numpy())
    print(format_metrics(metrics))
    if args.per_class:
        print(format_per_class(metrics["zsl_per_class"]))
    if args.output:
        write_json(args.output, metrics)
    else:
        print(json.dumps({k: v for k, v in metrics.items() if k not in ("stages", "zsl_per_class")}))
    return 0
