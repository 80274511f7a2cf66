"""``mgmrn train CONFIG [--set ...] [--output DIR [--overwrite]] [--resume DIR]``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mgmrn.cli.common import add_config_arguments, format_metrics
from mgmrn.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, nargs="?")
    parser.add_argument("--output", type=Path, help="run directory (default: runs/<config>-<time>)")
    parser.add_argument("--resume", type=Path, metavar="DIR",
                        help="continue the run in DIR where it stopped (--set may change e.g. train.epochs)")
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in --output")


def run(args: argparse.Namespace) -> int:
    from mgmrn.config import load_config
    from mgmrn.runtime.distributed import is_main
    from mgmrn.training.trainer import Trainer

    if args.resume is not None:
        saved = args.resume / "config.yaml"
        if not saved.is_file():
            raise UserError("not a run directory (no config.yaml)", args.resume)
        cfg = load_config(str(saved), args.overrides, saved=True)
        output = args.resume
    else:
        if args.config is None:
            raise UserError("give a CONFIG (preset name or YAML file) or --resume DIR")
        cfg = load_config(args.config, args.overrides)
        output = args.output or Path("runs") / f"{Path(args.config).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    metrics = Trainer(cfg, output).run(resume=args.resume is not None, overwrite=args.overwrite)
    if is_main():  # under torchrun, once
        print(format_metrics(metrics))
        print(f"run directory: {output}")
    return 0


