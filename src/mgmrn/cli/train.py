"""``mgmrn train CONFIG [--set ...] [--output DIR [--overwrite]] [--resume DIR]``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mgmrn.cli.main import add_config_arguments
from mgmrn.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, nargs="?")
    parser.add_argument("--output", type=Path, help="run directory (default: runs/<config>-<time>)")
    parser.add_argument("--resume", type=Path, metavar="DIR",
                        help="continue the run in DIR where it stopped (--set may change e.g. train.epochs)")
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in --output")


def run(args: argparse.Namespace) -> int:
    from mgmrn.config import load_config
    from mgmrn.engine.distributed import is_main
    from mgmrn.engine.trainer import Trainer

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


def format_metrics(m: dict) -> str:
    """One summary line of the contract metrics, and one of the probabilities' calibration."""
    line = (f"ZSL T1 {m['zsl_top1']:.1f}  GZSL U {m['gzsl_unseen']:.1f} S {m['gzsl_seen']:.1f} "
            f"H {m['gzsl_h']:.1f}  AUSUC {m['ausuc']:.1f}  (calibration {m['calibration']}, "
            f"gamma {m['gamma']:.3g}; test-sweep H {m['test_sweep_h']:.1f})")
    p = m.get("probabilities")
    if not p or p["temperature"] is None:
        return line
    sides = "; ".join(f"{k} {p[k]['ece_uncalibrated']:.1f} -> {p[k]['ece']:.1f}" for k in ("seen", "unseen") if k in p)
    return f"{line}\nprobabilities: temperature {p['temperature']:.3g}, test ECE (%) with T = 1 -> with it: {sides}"
