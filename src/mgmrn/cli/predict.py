"""``mgmrn predict CHECKPOINT IMAGE... [--classes CSV] [--top-k K] [--json] [--[no-]tta-flip]``.

Without ``--classes`` images are classified among the checkpoint's classes (seen and
unseen), with the seen classes' scores lowered by the gamma chosen on validation (as in GZSL
evaluation; ``--no-calibration`` ranks by the raw scores). With ``--classes`` (a CSV like
``class_attributes.csv``: ``class`` then one column per attribute, named as in training)
among any classes described only by their attributes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mgmrn.data.folder import read_class_attributes
from mgmrn.engine.predict import Predictor
from mgmrn.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint file or run directory")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    parser.add_argument("--classes", type=Path, metavar="CSV", help="candidate classes given by their attributes")
    parser.add_argument("--top-k", type=int, default=5, help="classes listed per image (default 5)")
    parser.add_argument("--json", action="store_true", help="one JSON object per image and line")
    parser.add_argument("--no-calibration", action="store_true",
                        help="do not subtract the validation-chosen gamma from the seen classes' scores")
    add_tta_argument(parser)


def add_tta_argument(parser: argparse.ArgumentParser) -> None:
    """``--[no-]tta-flip``: overrides the checkpoint's ``eval.tta_flip`` (see :func:`open_predictor`)."""
    parser.add_argument("--tta-flip", action=argparse.BooleanOptionalAction, default=None,
                        help="rank classes by the mean prediction over the image and its mirror image "
                             "(default: as the checkpoint was evaluated, eval.tta_flip)")


def open_predictor(args: argparse.Namespace) -> Predictor:
    """The checkpoint's predictor, with ``--[no-]tta-flip`` applied."""
    predictor = Predictor(args.checkpoint)
    if args.tta_flip is not None:
        predictor.tta_flip = args.tta_flip
    return predictor


def candidate_classes(path: Path, attribute_names: list[str]) -> tuple[list[str], np.ndarray]:
    """Read a class-attribute CSV: class names and raw values, columns in the model's attribute order."""
    names, values, columns = read_class_attributes(path)
    missing = [a for a in attribute_names if a not in columns]
    unknown = [c for c in columns if c not in attribute_names]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing attribute columns {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unknown:
            parts.append(f"unknown attribute columns {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
        raise UserError("; ".join(parts) + f" (the model knows {len(attribute_names)} attributes)", path)
    order = [columns.index(a) for a in attribute_names]
    return names, values[:, order]


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {args.top_k}")
    predictor = open_predictor(args)
    if args.classes is not None:
        predictor.use_classes(*candidate_classes(args.classes, predictor.attribute_names), source=args.classes)
    for result in predictor.predict(args.images, top_k=args.top_k, calibrated=not args.no_calibration):
        if args.json:
            print(json.dumps(result))
        else:
            best = ", ".join(f"{t['class']} ({t['score']:.2f})" for t in result["top"])
            print(f"{result['image']}: {best}")
    return 0
