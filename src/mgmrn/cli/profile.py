"""``mgmrn profile CONFIG``: parameters, backbone/head GFLOPs per image and CPU throughput."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from mgmrn.cli.common import add_config_arguments

if TYPE_CHECKING:
    from mgmrn.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--attributes", type=int, default=312, help="number of attributes A (default 312, CUB)")
    parser.add_argument("--word-dim", type=int, default=300, help="attribute vector width (0: learnable queries)")
    parser.add_argument("--batch", type=int, default=32, help="batch size for FLOP counting (per-batch query work is amortised)")
    parser.add_argument("--speed-batch", type=int, default=2, help="batch size for the CPU timings")
    parser.add_argument("--iters", type=int, default=3, help="timed iterations per measurement (0: skip timings)")
    parser.add_argument("--train", action="store_true", help="also time training steps (forward + backward)")


def run(args: argparse.Namespace) -> int:
    from mgmrn.config import load_config

    cfg = load_config(args.config, args.overrides)
    report = measure(cfg, args)
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report, cfg, args)
    return 0


def measure(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    """The profile of ``cfg``'s model: FLOPs and parameters, and CPU timings unless ``--iters 0``."""
    import torch

    from mgmrn.runtime.precision import precision_name
    from mgmrn.training.profile import (
        build_for_profile,
        flops_per_image,
        parameter_counts,
        precision_steps,
        throughput,
    )

    report: dict[str, Any] = {
        "backbone": cfg.model.backbone,
        "variant": cfg.model.variant,
        "head_design": cfg.model.head_design,
        "stages": cfg.model.stages,
        "image_size": cfg.data.image_size,
        "flop_batch": args.batch,
    }
    report.update(flops_per_image(cfg, args.attributes, args.word_dim, args.batch))
    report["head_ratio"] = report["head_gflops"] / report["backbone_gflops"]
    model = build_for_profile(cfg, args.attributes, args.word_dim)
    report.update(parameter_counts(model))
    if args.iters > 0:
        report["speed_batch"] = args.speed_batch
        report["threads"] = torch.get_num_threads()
        report.update(throughput(model, cfg.data.image_size, args.speed_batch, args.iters, args.train))
    if args.iters > 0 and args.train:
        report["precision"] = precision_name(torch.device("cpu"), cfg.train.amp)
        frozen = cfg.train.freeze_backbone
        report["precision_step"] = "heads on stage maps" if frozen else "whole model"
        report.update(precision_steps(model, cfg.data.image_size, args.speed_batch, args.iters, frozen))
    return report


def print_report(report: dict[str, Any], cfg: Config, args: argparse.Namespace) -> None:
    """``report`` as lines of text."""
    print(f"model      {cfg.model.backbone}  variant={cfg.model.variant}  head_design={cfg.model.head_design}  "
          f"L={cfg.model.stages}  {cfg.data.image_size}x{cfg.data.image_size}")
    print(f"params     {report['params'] / 1e6:.2f} M  (backbone {report['backbone_params'] / 1e6:.2f} M, "
          f"heads {report['head_params'] / 1e6:.2f} M)")
    print(f"GFLOPs/img backbone {report['backbone_gflops']:.2f}  heads {report['head_gflops']:.2f}  "
          f"(heads = {100 * report['head_ratio']:.1f}% of backbone; counted at batch {args.batch})")
    for key in ("infer", "train"):
        if f"{key}_model_img_s" in report:
            m, b = report[f"{key}_model_img_s"], report[f"{key}_backbone_img_s"]
            print(f"{key:<10} model {m:.2f} img/s  backbone {b:.2f} img/s  (time ratio {b / m:.2f}x; "
                  f"batch {args.speed_batch}, {report['threads']} threads)")
    if "precision" in report:
        print(f"precision  train.amp={cfg.train.amp} runs in {report['precision']} on this CPU; training step "
              f"({report['precision_step']}, batch {args.speed_batch}) "
              f"float32 {report['train_float32_img_s']:.2f} img/s, bf16 {report['train_bfloat16_img_s']:.2f} img/s")
