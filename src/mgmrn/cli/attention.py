"""``mgmrn attention CHECKPOINT IMAGE [--class NAME] [--attributes NAME ...] [--output PNG]``.

Draws, for one image, where each stage's decoder looks (Eq. 8) for the attributes that add
most to a class's score (the predicted class unless ``--class`` names one), and prints each
attribute's part of the score and the share of its attention that goes to the SCAB tokens
(the coarser stages' features fused in by MRM, Eq. 7). The predicted class is the one
``mgmrn predict`` ranks first (calibrated).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from mgmrn.cli.common import check_paths
from mgmrn.errors import UserError
from mgmrn.utils.io import atomic_open
from mgmrn.utils.paths import require_file

if TYPE_CHECKING:
    from mgmrn.viz.attention import Explanation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint file or run directory")
    parser.add_argument("image", metavar="IMAGE", help="image file")
    parser.add_argument("--class", dest="class_name", metavar="NAME",
                        help="explain this class's score (default: the predicted class)")
    parser.add_argument("--classes", type=Path, metavar="CSV",
                        help="candidate classes given by their attributes (as for predict)")
    parser.add_argument("--attributes", nargs="+", metavar="NAME",
                        help="attributes to draw (default: the --top-k that add most to the score)")
    parser.add_argument("--top-k", type=int, default=4, help="attributes drawn by default (default 4)")
    parser.add_argument("--tile", type=int, default=160, help="side of each drawn map in pixels (default 160)")
    parser.add_argument("--output", type=Path, metavar="PNG",
                        help="where to write the drawing (default: IMAGE_STEM.attention.png here)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def summary(explanation: Explanation) -> str:
    """The class, then one line per attribute: its part of the score and SCAB attention share."""
    verdict = "predicted" if explanation.predicted else "not the predicted class"
    lines = [f"{explanation.image}: {explanation.class_name} (score {explanation.score:.2f}, {verdict})"]
    width = max(len("attribute"), *(len(a) for a in explanation.attributes))
    stages = "/".join(str(i + 1) for i in range(len(explanation.stages)))
    lines.append(f"{'attribute':<{width}}  contribution  attention on SCAB tokens (stage {stages})")
    shares = [s.fused_share for s in explanation.stages]
    for i, (name, c) in enumerate(zip(explanation.attributes, explanation.contributions)):
        cells = " / ".join("-" if sh is None else f"{float(sh[i]):.2f}" for sh in shares)
        lines.append(f"{name:<{width}}  {c:>+12.3f}  {cells}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {args.top_k}")
    if args.tile < 16:
        raise UserError(f"--tile must be at least 16 pixels, got {args.tile}")
    check_paths(args)
    require_file(Path(args.image), "image")
    from mgmrn.inference.classes import ClassSet
    from mgmrn.inference.predictor import Predictor
    from mgmrn.viz.attention import explain, render

    predictor = Predictor(args.checkpoint)
    classes = None if args.classes is None else ClassSet.from_csv(predictor.run, args.classes)
    explanation = explain(predictor, args.image, classes=classes, class_name=args.class_name,
                          attributes=args.attributes, top_k=args.top_k)
    output = args.output or Path(f"{Path(args.image).stem}.attention.png")
    try:
        with atomic_open(output, "wb") as handle:
            render(explanation, args.tile).save(handle, format="PNG")
    except OSError as exc:
        raise UserError(f"cannot write the drawing ({exc.strerror or exc})", output) from None
    if args.json:
        print(json.dumps({**explanation.to_dict(), "output": str(output)}))
    else:
        print(summary(explanation))
        print(f"wrote {output}")
    return 0
