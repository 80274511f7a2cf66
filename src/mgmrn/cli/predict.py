"""``mgmrn predict CHECKPOINT IMAGE... [--classes CSV] [--top-k K] [--json] [--batch-size N] ...``.

IMAGE: image files, folders (searched recursively for image files) or glob patterns (quoted,
``'photos/**/*.jpg'``). Without ``--classes`` images are classified among the checkpoint's
classes (seen and unseen), with the seen classes' scores lowered by the gamma the run's
metrics applied (``eval.calibration``: the one chosen on validation by default; as in GZSL
evaluation; ``--no-calibration`` ranks by the raw scores). With
``--classes`` (a CSV like ``class_attributes.csv``: ``class`` then one column per attribute,
named as in training) among any classes described only by their attributes.

Each ranked class comes with its probability (the softmax over all candidate classes of the
scores divided by the temperature fitted on the run's validation split) and whether it was
seen in training. Results stream out one line per image as each
batch is classified; an image that cannot be read is reported in one line on stderr (and,
with ``--json``, as ``{"image", "error"}``), the others are classified, and the exit status
is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mgmrn.cli.common import check_paths
from mgmrn.errors import UserError

PARTLY_UNREADABLE = 1  # exit status when some images could not be read (the others were classified)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint file or run directory")
    parser.add_argument("images", metavar="IMAGE", nargs="+",
                        help="image files, folders (searched recursively) or quoted glob patterns ('**' spans folders)")
    parser.add_argument("--classes", type=Path, metavar="CSV", help="candidate classes given by their attributes")
    parser.add_argument("--top-k", type=int, default=5, help="classes listed per image (default 5)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per image and line: image, top (class, probability, seen, score) "
                             "or error")
    parser.add_argument("--batch-size", type=int, default=16, help="images classified together (default 16)")
    parser.add_argument("--no-calibration", action="store_true",
                        help="rank by the raw scores (no gamma off the seen classes' scores) "
                             "and give their plain softmax (no temperature)")
    parser.epilog = (f"exit status: 0 when every image was classified, {PARTLY_UNREADABLE} when some could not be "
                     "read (each named on stderr; the others were classified), 2 on bad input that stops the command")


def format_result(result: dict[str, Any]) -> str:
    """``IMAGE: class 91.2% (unseen), class 5.1% (seen), ...``."""
    ranked = ", ".join(f"{t['class']} {100 * t['probability']:.1f}% ({'seen' if t['seen'] else 'unseen'})"
                       for t in result["top"])
    return f"{result['image']}: {ranked}"


def run(args: argparse.Namespace) -> int:
    for option in ("top_k", "batch_size"):
        if getattr(args, option) < 1:
            raise UserError(f"--{option.replace('_', '-')} must be at least 1, got {getattr(args, option)}")
    check_paths(args)
    from mgmrn.data.images import find_images
    from mgmrn.inference.classes import ClassSet
    from mgmrn.inference.predictor import Predictor
    from mgmrn.utils.progress import progress

    paths = find_images(args.images)
    predictor = Predictor(args.checkpoint)
    if predictor.note and not args.no_calibration:
        print(f"mgmrn predict: note: {predictor.note}", file=sys.stderr, flush=True)
    classes = None if args.classes is None else ClassSet.from_csv(predictor.run, args.classes)
    results = predictor.stream(paths, top_k=args.top_k, batch_size=args.batch_size,
                               calibrated=not args.no_calibration, classes=classes)
    bar = progress(results, "classifying", unit="image", total=len(paths), leave=False)
    failed = 0
    for result in bar:
        unreadable = "error" in result
        failed += unreadable
        with bar.external_write_mode():  # lines go above the bar, as each image is done
            if unreadable:
                print(f"mgmrn predict: error: {result['image']}: {result['error']}", file=sys.stderr, flush=True)
            if args.json or not unreadable:
                print(json.dumps(result) if args.json else format_result(result), flush=True)
    return PARTLY_UNREADABLE if failed else 0
