"""``mgmrn demo [--output DIR]``: the whole job on the embedded default.

Generates the synthetic zero-shot set, trains Mg-MRN on its seen classes, evaluates it
(ZSL, GZSL, AUSUC) and classifies a few images of unseen classes from their attributes.
Then it writes the run's report (``mgmrn report``) into ``DIR/report``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mgmrn.cli.common import add_set_argument, format_metrics
from mgmrn.utils.paths import LAST


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=Path("runs/demo"),
                        help="run directory (default runs/demo); a run already there is replaced, and the "
                             "demo says so")
    add_set_argument(parser, "override a key of the demo preset")


def run(args: argparse.Namespace) -> int:
    if (args.output / LAST).exists():
        print(f"mgmrn demo: replacing the run in {args.output} (the demo starts afresh; mgmrn train would "
              "refuse without --overwrite)", file=sys.stderr, flush=True)
    from mgmrn.config import load_config
    from mgmrn.inference.classes import ClassSet
    from mgmrn.inference.predictor import Predictor
    from mgmrn.training.trainer import Trainer

    start = time.perf_counter()
    cfg = load_config("demo", args.overrides)
    trainer = Trainer(cfg, args.output)
    metrics = trainer.run(overwrite=True)  # a new demo replaces the last one
    data = trainer.data
    chance = 100 / len(data.unseen)
    print(format_metrics(metrics))
    print(f"ZSL top-1 {metrics['zsl_top1']:.1f}% on {len(data.unseen)} unseen classes "
          f"(chance {chance:.1f}%, {metrics['zsl_top1'] / chance:.1f}x chance)")
    predictor = Predictor(args.output)
    unseen = ClassSet.of_run(predictor.run, [data.classes[c] for c in sorted(int(c) for c in data.unseen)])
    examples = data.test_unseen[:: max(1, len(data.test_unseen) // 4)][:4]
    print("zero-shot predictions among unseen classes (never seen in training):")
    results = predictor.predict([p for p, _ in examples], top_k=1, classes=unseen)
    for (path, label), result in zip(examples, results):
        name = f"{Path(path).parent.name}/{Path(path).name}"
        print(f"  {name}: true {data.classes[label]}, predicted {result['top'][0]['class']}")
    from mgmrn.viz.report.build import write_report  # matplotlib: only here

    print(f"wrote {write_report([args.output], args.output / 'report')}")
    print(f"demo finished in {time.perf_counter() - start:.0f} s; results in {args.output}/metrics.json")
    return 0
