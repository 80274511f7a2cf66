"""Cost of Mg-MRN against its bare backbone at the paper preset: GFLOPs and CPU speed.

For each head design (``paper``: ours; ``reference``: the reference code's heads), at the
``cub`` preset (ResNet-101, 448x448, L=3, N_p=7; random weights: cost does not depend on
them), it reports

* GFLOPs per image of the backbone and of the heads (counted on the meta device with
  ``torch.utils.flop_counter``, via ``mgmrn.training.profile.flops_per_image``);
* CPU inference and training-step throughput of the whole model and of the bare backbone,
  measured in the same run (``mgmrn.training.profile.throughput``), and their time ratios;
* training throughput of the joint one-pass schedule (Eq. 13) against the reference
  per-stage schedule (L forward/backward passes and L optimiser steps per batch), timed
  through ``mgmrn.training.loop.train_epoch`` on random images.

Targets (issue 5): heads <= 25% of backbone FLOPs; training step <= 1.3x and inference
<= 1.2x the bare backbone's time.

    .venv/bin/python benchmarks/speed.py                      # paper preset (a few minutes)
    .venv/bin/python benchmarks/speed.py --size 224 --iters 1 # quicker
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _bench
import torch

from mgmrn.config import load_config
from mgmrn.training.loop import train_epoch
from mgmrn.training.losses import Criterion
from mgmrn.training.optim import build_optimizer
from mgmrn.training.profile import (
    build_for_profile,
    flops_per_image,
    parameter_counts,
    throughput,
)
from mgmrn.training.step import Stepper

ATTRIBUTES, WORD_DIM, SEEN = 312, 300, 150  # CUB: 312 attributes, GloVe 300-d, 150 seen classes


def config(args: argparse.Namespace, design: str, schedule: str = "joint"):
    overrides = [f"model.head_design={design}", f"train.stage_updates={schedule}", "model.pretrained=none"]
    if args.size:
        overrides.append(f"data.image_size={args.size}")
    return load_config(args.preset, overrides + list(args.set))


def time_schedule(args: argparse.Namespace, design: str, schedule: str) -> dict[str, float]:
    """Training images/s of ``train_epoch`` with ``schedule`` on random images (after a warm-up batch)."""
    # lr 0: random backbone weights on random images diverge at any real learning rate, and
    # an optimiser step costs the same whatever the learning rate.
    cfg = config(args, design, schedule)
    cfg.train.lr = 0.0
    torch.manual_seed(0)
    model = build_for_profile(cfg, ATTRIBUTES, WORD_DIM).train()
    stepper = Stepper(build_optimizer(model, cfg.train), torch.device("cpu"), cfg.train.amp)
    size = cfg.data.image_size
    criterion = Criterion.for_run(cfg, torch.rand(SEEN, ATTRIBUTES), range(SEEN), model.num_stages)

    def loader(n: int):
        return [(torch.randn(args.batch, 3, size, size), torch.randint(0, SEEN, (args.batch,)), None)
                for _ in range(n)]

    train_epoch(model, loader(1), criterion, stepper, desc="warm-up")
    stats = train_epoch(model, loader(args.schedule_iters), criterion, stepper, desc=schedule)
    return {"img_s": stats.img_s, "seconds": stats.seconds, "images": stats.images}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cub", help="config preset (default cub: the paper's)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra config overrides")
    parser.add_argument("--size", type=int, default=0, help="image size (default: the preset's, 448)")
    parser.add_argument("--designs", default="paper,reference", help="head designs to measure")
    parser.add_argument("--flop-batch", type=int, default=8, help="batch for FLOP counting (meta device)")
    parser.add_argument("--batch", type=int, default=2, help="batch for the CPU timings")
    parser.add_argument("--iters", type=int, default=2, help="timed iterations per throughput figure (+1 warm-up)")
    parser.add_argument("--schedule-iters", type=int, default=2, help="timed batches per schedule (+1 warm-up)")
    parser.add_argument("--no-train", action="store_true", help="skip the training-step timings")
    parser.add_argument("--no-schedule", action="store_true", help="skip the joint vs per-stage timings")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--json", default=str(_bench.RESULTS / "speed.json"), help="where to write the results")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    info = _bench.machine()
    started = time.perf_counter()
    rows, results = [], {"machine": info, "command": _bench.command(), "designs": {}}
    for design in args.designs.split(","):
        cfg = config(args, design)
        r: dict[str, float] = dict(flops_per_image(cfg, ATTRIBUTES, WORD_DIM, args.flop_batch))
        r["head_ratio"] = r["head_gflops"] / r["backbone_gflops"]
        model = build_for_profile(cfg, ATTRIBUTES, WORD_DIM)
        r.update(parameter_counts(model))
        if args.iters > 0:
            r.update(throughput(model, cfg.data.image_size, args.batch, args.iters, train=not args.no_train))
            r["infer_time_ratio"] = r["infer_backbone_img_s"] / r["infer_model_img_s"]
            if not args.no_train:
                r["train_time_ratio"] = r["train_backbone_img_s"] / r["train_model_img_s"]
        del model
        if not args.no_schedule:
            for schedule in ("joint", "per-stage"):
                s = time_schedule(args, design, schedule)
                r[f"schedule_{schedule}_img_s"] = s["img_s"]
            r["schedule_time_ratio"] = r["schedule_joint_img_s"] / r["schedule_per-stage_img_s"]
        results["designs"][design] = r
        _bench.write_json(Path(args.json), results)
        print(f"[{time.perf_counter() - started:.0f} s] {design}: {r}", flush=True)
    results["seconds"] = time.perf_counter() - started
    _bench.write_json(Path(args.json), results)

    f = lambda x, d=2: "-" if x is None else f"{x:.{d}f}"  # noqa: E731
    for design, r in results["designs"].items():
        rows.append([
            design, f(r["backbone_gflops"], 1), f(r["head_gflops"], 1), f"{100 * r['head_ratio']:.1f}%",
            f"{r['params'] / 1e6:.1f} M", f(r.get("infer_model_img_s")), f(r.get("infer_backbone_img_s")),
            f(r.get("infer_time_ratio")), f(r.get("train_model_img_s")), f(r.get("train_backbone_img_s")),
            f(r.get("train_time_ratio")),
        ])
    cfg = config(args, "paper")
    print(f"\nMg-MRN cost at preset '{args.preset}': {cfg.model.backbone}, {cfg.data.image_size}x{cfg.data.image_size}, "
          f"L={cfg.model.stages}, N_p={cfg.model.prototypes}, A={ATTRIBUTES}; FLOPs counted at batch {args.flop_batch}, "
          f"CPU timings at batch {args.batch}, {args.iters} timed iterations after 1 warm-up")
    print(_bench.table(
        ["head design", "backbone GFLOPs/img", "heads GFLOPs/img", "heads/backbone", "params",
         "infer model img/s", "infer backbone img/s", "infer time ratio", "train model img/s",
         "train backbone img/s", "train time ratio"], rows))
    print("targets: heads <= 25% of backbone FLOPs, train time ratio <= 1.3, infer time ratio <= 1.2")
    if not args.no_schedule:
        print(f"\nTraining schedule (train_epoch on random images, batch {args.batch}, SGD, "
              f"{args.schedule_iters} timed batches after 1 warm-up)")
        print(_bench.table(
            ["head design", "joint (one pass) img/s", "per-stage (reference, L passes) img/s", "joint speed-up"],
            [[d, f(r["schedule_joint_img_s"]), f(r["schedule_per-stage_img_s"]), f"{r['schedule_time_ratio']:.2f}x"]
             for d, r in results["designs"].items()]))
    print(f"\n{_bench.machine_line(info)}")
    print(f"total time {results['seconds']:.0f} s; results in {args.json}")
    print(f"reproduce: {results['command']}")


if __name__ == "__main__":
    main()
