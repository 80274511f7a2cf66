"""``mgmrn data-info CONFIG [--set ...] [--json] [--check-images]``: what a dataset holds."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mgmrn.cli.common import add_config_arguments
from mgmrn.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--json", action="store_true",
                        help="print JSON (keys train, test_seen, test_unseen, seen_classes, "
                             "unseen_classes, attributes are stable; also problems and notes)")
    parser.add_argument("--check-images", action="store_true",
                        help="decode every image and fail on unreadable ones (slow on large sets)")


def _text(info: dict[str, Any]) -> str:
    vectors = info["attribute_vector_dim"]
    val = info["val"]
    rows = [
        ("data", f"{info['format']} at {info['root'] or '(cache)'}"),
        ("classes", f"{info['classes']}: {info['seen_classes']} seen, {info['unseen_classes']} unseen"),
        ("attributes", f"{info['attributes']}, vectors: "
                       + (f"{vectors}-d" if vectors else "none (learnable queries)")),
        ("images", f"train {info['train']}, test_seen {info['test_seen']}, "
                   f"test_unseen {info['test_unseen']}"),
        ("validation", f"train_sub {val['train_sub']}, val_seen {val['val_seen']}, val_unseen "
                       f"{val['val_unseen']} ({val['val_unseen_classes']} pseudo-unseen classes)"),
    ]
    if "images_checked" in info:
        rows.append(("checked", f"{info['images_checked']} images decoded, all readable"))
    rows.extend(("notes" if i == 0 else "", note) for i, note in enumerate(info["notes"]))
    rows.append(("problems", "none" if not info["problems"] else info["problems"][0]))
    rows.extend(("", problem) for problem in info["problems"][1:])
    return "\n".join(f"{key:<11} {value}" for key, value in rows)


def run(args: argparse.Namespace) -> int:
    from mgmrn.config import load_config
    from mgmrn.data.build import build_data
    from mgmrn.data.images import check_images

    cfg = load_config(args.config, args.overrides).data
    data = build_data(cfg)
    info = {"format": cfg.format, "root": cfg.root, **data.summary()}
    if args.check_images:
        samples = data.train + data.test_seen + data.test_unseen
        bad = check_images(samples)
        if bad:
            for path, problem in bad[1:]:
                print(f"{path}: {problem}")
            path, problem = bad[0]
            raise UserError(f"{problem} ({len(bad)} of {len(samples)} images unreadable)", path)
        info["images_checked"] = len(samples)
    print(json.dumps(info, indent=2) if args.json else _text(info))
    return 0
